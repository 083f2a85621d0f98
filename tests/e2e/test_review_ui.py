"""The review workflow clicked through in real Chromium against a live server with a real
worker. Screenshots of every page visited go to test-artifacts/ui/ (look at them)."""

import time

import pytest
import requests
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.conftest import BLACK, SHOTS, make_png, wait_for
from tests.e2e.conftest import LiveApi

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def reviewer(transactional_db):
    # Made before Playwright starts: its sync API runs an event loop on this thread, and the
    # test talks to the server only over HTTP from then on.
    return get_user_model().objects.create_user("reviewer", "reviewer@example.com", "s3cret-pass")


def shot(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_review_workflow_in_chromium(live_server, celery_worker, reviewer, browser_page):
    page = browser_page
    base = live_server.url

    # Log in.
    page.goto(f"{base}/login")
    shot(page, "01-login")
    page.fill("#id_username", "reviewer")
    page.fill("#id_password", "s3cret-pass")
    page.click("button[type=submit]")
    expect(page.locator("header.top")).to_contain_text("reviewer")

    # Create a build.
    page.fill("#id_name", "Web shop")
    page.click("text=Create build")
    expect(page.locator("h1")).to_contain_text("Web shop")
    build_id = int(page.url.split("id=")[1])
    shot(page, "02-empty-build")

    # Create an API key; its secret is on the page once.
    page.click("text=API keys")
    page.fill("#id_purpose", "CI")
    page.click("text=Create API key")
    key_id = page.locator("#new-key-id").inner_text()
    secret = page.locator("#new-key-secret").inner_text()
    shot(page, "03-api-key")

    api = requests.Session()
    api.auth = (key_id, secret)

    def call(endpoint, **data):
        response = api.post(
            f"{base}/api/{endpoint}", data={"build_id": build_id, **data}, timeout=30
        )
        assert response.status_code == 200, response.text
        return response.json()

    def upload(png):
        response = api.post(
            f"{base}/api/upload",
            data={"build_id": build_id},
            files={"file": ("shot.png", png, "image/png")},
            timeout=30,
        )
        return response.json()["sha1sum"]

    def release_with(name, runs):
        call("create_release", release_name=name)
        for run_name, (before, after) in runs.items():
            call(
                "report_run",
                release_name=name,
                release_number=1,
                run_name=run_name,
                ref_image=before,
                image=after,
            )
        call("runs_done", release_name=name, release_number=1)
        return wait_for(
            lambda: (
                call("release_status", release_name=name, release_number=1)["status"] == "reviewing"
            ),
            timeout=90,
            message=f"{name} to be reviewed",
        )

    # A release with one changed and one identical run, diffed by the worker.
    page_a = upload(make_png(400, 300, squares=[(40, 40, 60, BLACK)]))
    page_b = upload(make_png(400, 300, squares=[(200, 120, 60, BLACK)]))
    same_1 = upload(make_png(400, 300, compress_level=1))
    same_2 = upload(make_png(400, 300, compress_level=9))
    release_with("2026-11-22", {"/checkout": (page_a, page_b), "/about": (same_1, same_2)})

    # Review it: the changed run comes first.
    page.goto(f"{base}/build?id={build_id}")
    shot(page, "04-build")
    page.click("text=Attempt #1")
    expect(page.locator(".stat.bad b").first).to_have_text("1")
    rows = page.locator("table.list tr td a b").all_inner_texts()
    assert rows == ["/checkout", "/about"]
    shot(page, "05-release")
    page.click("text=/checkout")
    expect(page.locator("#run-status")).to_have_text("Diff found")
    shot(page, "06-run")
    page.keyboard.press("o")  # overlay view
    page.locator("#slider").fill("20")
    shot(page, "07-run-overlay")
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("s")
    page.keyboard.press("y")  # approve with the keyboard; moves on to the next run
    page.wait_for_url("**test=%2Fabout**")
    runs = call("release_status", release_name="2026-11-22", release_number=1)["runs"]
    assert {run["name"]: run["status"] for run in runs}["/checkout"] == "diff_approved"
    page.keyboard.press("u")
    page.wait_for_url("**/release?**")
    expect(page.locator(".stat.good b").first).to_have_text("1")
    page.click("text=Mark release good")
    expect(page.locator("h1 .pill")).to_have_text("Good")
    shot(page, "08-release-good")

    # The next release is compared with the good one.
    baseline = call("find_run", run_name="/checkout")
    assert baseline["release_name"] == "2026-11-22" and baseline["image"] == page_b
    page_c = upload(make_png(400, 300, squares=[(220, 120, 60, BLACK)]))
    release_with("2026-11-23", {"/checkout": (baseline["image"], page_c)})
    page.goto(f"{base}/run?id={build_id}&name=2026-11-23&number=1&test=/checkout")
    before_src = page.locator("figure img[alt=before]").get_attribute("src")
    assert before_src.endswith(f"sha1sum={page_b}")
    expect(page.locator("#run-status")).to_have_text("Diff found")
    time.sleep(0.2)  # let the images paint for the screenshot
    shot(page, "09-next-release-run")


def log_in(page, base):
    page.goto(f"{base}/login")
    page.fill("#id_username", "reviewer")
    page.fill("#id_password", "s3cret-pass")
    page.click("button[type=submit]")
    expect(page.locator("header.top")).to_contain_text("reviewer")


@pytest.fixture
def keyed_build(reviewer):
    """A build the reviewer owns and an API key for it (made before Playwright starts)."""
    from releases import services
    from releases.models import ApiKey

    build = services.create_build(name="Docs", owner=reviewer)
    key, secret = ApiKey.create(build=build, purpose="ui")
    return build, key, secret


def test_run_page_explains_moves_and_subtle_changes(
    live_server, celery_worker, keyed_build, browser_page
):
    """The aligned diff view and the outlined subtle regions, clicked through."""
    from tests.pdiff.test_verdict import png, striped_page

    page, base = browser_page, live_server.url
    build, key, secret = keyed_build
    api = LiveApi(base, build.id, key.id, secret)
    call, upload = api.post, api.upload

    lines = [(70, 70 + (n * 37) % 150) for n in range(40)]
    moved = (
        upload(png(striped_page(lines))),
        upload(png(striped_page(lines[:6] + [(70, 230), (70, 140)] + lines[6:]))),
    )
    button = (
        upload(make_png(400, 300, squares=[(100, 100, 80, (0x25, 0x63, 0xEB, 255))])),
        upload(make_png(400, 300, squares=[(100, 100, 80, (0x1D, 0x4E, 0xD8, 255))])),
    )
    call("create_release", release_name="r1")
    for name, (before, after) in (("/moved", moved), ("/button", button)):
        call(
            "report_run",
            release_name="r1",
            release_number=1,
            run_name=name,
            ref_image=before,
            image=after,
        )
    call("runs_done", release_name="r1", release_number=1)
    api.wait_until_reviewing()
    log_in(page, base)

    page.goto(f"{base}/run?id={build.id}&name=r1&number=1&test=/moved")
    expect(page.locator("#diff-summary")).to_contain_text("moved down 24 px (before y=")
    expect(page.locator("#shifts li")).to_have_count(1)
    aligned = page.locator('[data-view="aligned"] img')
    expect(aligned).to_be_hidden()
    page.keyboard.press("4")
    expect(aligned).to_be_visible()
    expect(page.locator('#modes button[data-mode="aligned"]')).to_have_class("on")
    page.wait_for_function("document.querySelector('[data-view=aligned] img').naturalWidth > 0")
    # The aligned diff has far fewer red pixels than the plain one: count them in the page.
    red = """src => new Promise(done => { const img = new Image(); img.onload = () => {
        const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] === 255 && d[i + 1] === 0) n++;
        done(n); }; img.src = src; })"""
    aligned_red = page.evaluate(red, aligned.get_attribute("src"))
    plain_red = page.evaluate(red, page.locator('[data-view="diff"] img').get_attribute("src"))
    assert 0 < aligned_red < plain_red / 5
    shot(page, "10-run-aligned")

    page.goto(f"{base}/run?id={build.id}&name=r1&number=1&test=/button")
    expect(page.locator("#run-status")).to_have_text("Diff found")
    expect(page.locator("#diff-summary")).to_have_text(
        "1 subtle colour change (under the threshold) at x=100, y=100 (after, 80×80 px)"
    )
    expect(page.locator("#subtle-regions li")).to_contain_text("80×80 px at x=100, y=100")
    expect(page.locator('#modes button[data-mode="aligned"]')).to_have_count(0)
    page.keyboard.press("2")
    box = page.locator('[data-view="diff"] .subtle-box')
    expect(box).to_be_visible()
    image = page.locator('[data-view="diff"] img').bounding_box()
    outline = box.bounding_box()
    # The outline sits over the button: 100..180 of 400 px, scaled to the image on screen.
    scale = image["width"] / 400
    assert abs(outline["x"] - image["x"] - 100 * scale) < 2
    assert abs(outline["width"] - 80 * scale) < 2
    shot(page, "11-run-subtle")


def test_flaky_run_shows_its_noise_mask(
    live_server, celery_worker, keyed_build, site, browser_page
):
    """A page with a canvas painted a random colour, captured by the worker: the run is flaky
    (a second screenshot showed the noise), the release page counts it apart, and the run page
    shows the noise mask (key 5)."""
    from tests.e2e.test_capture_worker import CONFIG, NOISY_CANVAS

    page, base = browser_page, live_server.url
    build, key, secret = keyed_build
    api = LiveApi(base, build.id, key.id, secret)
    call = api.post

    url = site.add("/pricing", NOISY_CANVAS.format())
    for release in ("first", "second"):
        call("create_release", release_name=release)
        call(
            "request_run",
            release_name=release,
            release_number=1,
            run_name="/pricing",
            url=url,
            config=CONFIG,
        )
        call("runs_done", release_name=release, release_number=1)
        api.wait_until_reviewing(release, timeout=120)
        if release == "first":
            call("mark_release", release_name="first", release_number=1, status="good")

    log_in(page, base)
    runs = call("release_status", release_name="second", release_number=1)["runs"]
    assert runs[0]["status"] == "flaky", runs
    page.goto(f"{base}/release?id={build.id}&name=second&number=1")
    expect(page.locator("#flaky-count b")).to_have_text("1")
    expect(page.locator(".pill.flaky")).to_have_text("Flaky")
    shot(page, "12-release-flaky")
    page.click("text=/pricing")
    expect(page.locator("#run-status")).to_have_text("Flaky")
    expect(page.locator("#noise-note")).to_contain_text("the page differed from itself in")
    mask = page.locator('[data-view="noise"] img')
    expect(mask).to_be_hidden()
    page.keyboard.press("5")
    expect(mask).to_be_visible()
    page.wait_for_function("document.querySelector('[data-view=noise] img').naturalWidth > 0")
    red = page.evaluate("""() => { const img = document.querySelector('[data-view=noise] img');
        const c = document.createElement('canvas'); c.width = img.naturalWidth;
        c.height = img.naturalHeight; const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] === 255 && d[i + 1] === 0) n++;
        return n; }""")
    assert red >= 200 * 120 * 0.9  # the box, in red
    shot(page, "13-run-noise")


def test_error_pages_have_the_sites_look_and_a_way_back(
    live_server, reviewer, browser_page, settings
):
    settings.DEBUG = False  # as in production: Django's own debug pages are off
    page, base = browser_page, live_server.url
    log_in(page, base)
    page.goto(f"{base}/build?id=999999")
    expect(page.locator("#error-page h1")).to_have_text("Nothing here")
    expect(page.locator("header.top")).to_contain_text("reviewer")
    # Styled: the site's stylesheet is applied (the card is centred and bounded).
    assert page.locator("#error-page").evaluate("e => getComputedStyle(e).maxWidth") == "640px"
    shot(page, "14-not-found")
    page.click("#back-home")
    page.wait_for_url(f"{base}/")
    expect(page.locator("h1").first).to_be_visible()
