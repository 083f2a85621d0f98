"""Changes named by their cause, end to end: a generated site of 12 pages (links, a definition
list, an image, a flat panel, a canvas, a clock) captured by a real worker on Redis with real
Chromium, released again and again against its first release, and reviewed cause by cause in
Chromium. Each release changes one thing:

(a) every link recoloured by less than the colour threshold;
(b) one page's ``dt`` padded by 4 px;
(c) a word on 2 pages, and the links on all;
(d) a clock and a stamp on every page, both ignored (``ignoreSelectors``: a build setting and a
    run's config key);
(e) one page's canvas drawn in another colour;
and page 12 has a box coloured by ``Math.random()`` at load in every release (h). (f) approves
groups through the API and in the UI; (g) is an uploaded pair without layout maps."""

import io
import json

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from pdiff import metric
from tests.conftest import make_png
from tests.e2e.conftest import LiveApi
from tests.e2e.test_review_ui import log_in, reviewer, shot  # noqa: F401 - reviewer: a fixture

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAGES = 12
OLD_LINK, NEW_LINK = (0, 114, 170), (0, 102, 204)
CONFIG = {"viewportSize": {"width": 800, "height": 600}}
FILLER = "".join(
    f"<p>Paragraph {n}: the quick brown fox jumps over the lazy dog, twice over.</p>"
    for n in range(24)
)
PAGE = """<!doctype html><html><head><style>
body {{ font-family: 'DejaVu Sans'; margin: 24px; background: #fff; color: #222 }}
a {{ color: {link} }} nav a {{ margin-right: 6px }}
dt {{ font-weight: bold; {dt} }}
.panel {{ background: #eef2f7; width: 320px; height: 80px }}
#rand {{ width: 120px; height: 40px }}
p {{ margin: 6px 0 }}
</style></head><body>
<nav>{nav}</nav>
<h1>Page {n}</h1>
<p class="notice">Prices are {word}.</p>
<p>Now: <span class="clock">{clock}</span> · build <span class="stamp">{stamp}</span></p>
<img src="/logo.png" width="64" height="32" alt="logo">
<div class="panel"></div>
<canvas id="chart" width="160" height="60"></canvas>
{rand}
{filler}
<dl><dt>alpha</dt><dd>first</dd><dt>beta</dt><dd>second</dd><dt>gamma</dt><dd>third</dd></dl>
<p>The end.</p>
<script>
const g = document.getElementById('chart').getContext('2d');
g.fillStyle = '{canvas}'; g.fillRect(0, 0, 160, 60);
const box = document.getElementById('rand');
if (box) box.style.background = 'rgb(' + [0, 0, 0].map(() => Math.floor(Math.random() * 256))
  .join(',') + ')';
</script></body></html>"""


def hexed(rgb):
    return "#" + "".join(f"{c:02x}" for c in rgb)


def body(n, *, link=OLD_LINK, pad=False, word="final", clock="10:00", stamp="b1", canvas="#3366cc"):
    nav = "".join(f'<a href="/p{k}">Page {k}</a>' for k in range(1, PAGES + 1))
    return PAGE.format(
        n=n,
        nav=nav,
        link=hexed(link),
        dt="padding-top: 4px" if pad else "",
        word=word,
        clock=clock,
        stamp=stamp,
        canvas=canvas,
        rand='<div id="rand"></div>' if n == PAGES else "",
        filler=FILLER,
    )


@pytest.fixture
def docs_build(reviewer):  # noqa: F811
    """A build the reviewer owns, ignoring ``.clock`` in every run (a build setting); made
    before Playwright starts (its event loop then owns this thread)."""
    from releases import services
    from releases.models import ApiKey

    build = services.create_build(name="Generated site", owner=reviewer)
    build.ignore_selectors = ".clock"
    build.save()
    key, secret = ApiKey.create(build=build, purpose="causes")
    return build, key, secret


def test_a_site_is_reviewed_cause_by_cause(
    live_server,
    celery_worker,
    docs_build,
    site,
    browser_page,
):
    build, key, secret = docs_build
    api = LiveApi(live_server.url, build.id, key.id, secret)
    site.add("/logo.png", make_png(64, 32, background=(40, 90, 160, 255)), content_type="image/png")

    def release(name, changes, *, ignore_stamp_on=()):
        """Publish the pages as ``changes`` says (per page number, or "all": body()'s
        options), capture them in a release, and wait for it; returns its status with the runs
        by name."""
        for n in range(1, PAGES + 1):
            options = changes.get(n, changes.get("all", {}))
            site.add(f"/p{n}", body(n, **options))
        api.post("create_release", release_name=name)
        for n in range(1, PAGES + 1):
            config = dict(CONFIG)
            if n in ignore_stamp_on:
                config["ignoreSelectors"] = [".stamp"]
            api.post(
                "request_run",
                release_name=name,
                release_number=1,
                run_name=f"/p{n}",
                url=f"{site.url}/p{n}",
                config=json.dumps(config),
            )
        api.post("runs_done", release_name=name, release_number=1)
        status = api.wait_until_reviewing(name, timeout=240)
        status["by_name"] = {run["name"]: run for run in status["runs"]}
        return status

    def download(sha1):
        response = api.session.get(
            f"{api.base}/download", params={"build_id": build.id, "sha1sum": sha1}, timeout=30
        )
        assert response.status_code == 200
        return response.content

    def statuses(status):
        return {name: run["status"] for name, run in status["by_name"].items()}

    base = release("base", {})
    assert set(statuses(base).values()) == {"no_diff_needed"}
    assert all(run["layout"] for run in base["runs"])  # every capture has its layout map
    api.post("mark_release", release_name="base", release_number=1, status="good")

    # (a) Links one shade darker: every pixel under the colour threshold, yet every page changed,
    # one group of all of them (page 12's random box is noise beside it: (h)).
    assert metric.oklab_distance(OLD_LINK, NEW_LINK) < 0.1
    links = release("links", {"all": {"link": NEW_LINK}})
    assert set(statuses(links).values()) == {"diff_found"}, statuses(links)
    for run in links["runs"]:
        assert run["changed_pixels"] == 0, run  # nothing over the threshold
        [cause] = run["causes"]
        assert cause["kind"] == "style" and cause["selector"] == "a"
        assert cause["changes"] == [["color", "rgb(0, 114, 170)", "rgb(0, 102, 204)"]]
        assert run["summary"] == f"`a` ×{PAGES}: color #0072aa → #0066cc"
    [group] = links["groups"]
    assert group["label"] == "`a`: color #0072aa → #0066cc"
    assert sorted(group["runs"]) == sorted(f"/p{n}" for n in range(1, PAGES + 1))
    noise = json.loads(download(links["by_name"][f"/p{PAGES}"]["diff_log"]))["noise_causes"]
    assert [cause["selector"] for cause in noise] == ["#rand"]
    # The noise check was made by the captures themselves: each page, its elements differing
    # from the baseline's, was loaded again for its layout map at once (no first look by the
    # diff worker, no capture of its own).
    rechecks = in_thread(lambda: second_looks("links"))
    assert rechecks["recapture"] == {"layout_done"}
    assert rechecks["loaded again at once"] == PAGES and rechecks["first looks"] == 0

    # (b) One page's dt padded by 4 px: one cause line with the page's new height; the moves
    # below are its consequence, not a list; the aligned view is clean below the first dt.
    padded = release("padding", {3: {"pad": True}})
    assert statuses(padded)["/p3"] == "diff_found"
    assert statuses(padded)[f"/p{PAGES}"] == "flaky"  # (h): only its random box differs
    assert {statuses(padded)[f"/p{n}"] for n in range(1, PAGES) if n != 3} == {"diff_not_found"}
    p3 = padded["by_name"]["/p3"]
    [cause] = p3["causes"]
    assert cause["selector"] == "dt" and cause["count"] == 3
    assert p3["summary"] == "`dt` ×3: padding-top 0px → 4px; page 12 px taller"
    assert "moved" not in p3["summary"] and "\n" not in p3["summary"]
    aligned = np.asarray(Image.open(io.BytesIO(download(p3["aligned_diff_image"]))).convert("RGB"))
    red = (aligned[..., 0] == 255) & (aligned[..., 1] == 0) & (aligned[..., 2] == 0)
    first_dt_top = min(box[1] for box in cause["boxes"])
    assert not red[first_dt_top:].any()
    # The thumbnail shows the change, low on the page: not the diff image's top.
    from artifacts import thumbnails

    diff_png = download(p3["diff_image"])
    focus = cause["boxes"][0]
    assert first_dt_top > 700
    assert download(p3["thumbnail"]) == thumbnails.thumbnail(diff_png, focus[1] + focus[3] // 2)

    # (c) A word on 2 pages and the links on all: two groups, the 2 pages not among the
    # links-only ones.
    provisional = {"link": NEW_LINK, "word": "provisional"}
    words = release("words", {"all": {"link": NEW_LINK}, 1: provisional, 2: provisional})
    assert set(statuses(words).values()) == {"diff_found"}
    big, small = words["groups"]
    assert sorted(small["runs"]) == ["/p1", "/p2"] and len(big["runs"]) == PAGES - 2
    assert not {"/p1", "/p2"} & set(big["runs"])
    assert big["label"] == "`a`: color #0072aa → #0066cc"
    assert "`p`: text “Prices are final.” → “Prices are provisional.”" in small["causes"]

    # (f) Approving a group through the API: its two runs, nothing else, one audited action.
    answer = api.post("approve_group", release_name="words", release_number=1, group=small["key"])
    assert sorted(answer["runs"]) == ["/p1", "/p2"] and answer["approved"] == 2
    after = api.status("words")
    assert {r["name"] for r in after["runs"] if r["status"] == "diff_approved"} == {"/p1", "/p2"}

    # ... and in the UI: the release page lists the groups, largest first, each with its crop,
    # and every changed run's CHANGE column says what changed.
    page = browser_page
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/release?id={build.id}&name=words&number=1")
    groups = page.locator(".group")
    expect(groups).to_have_count(2)
    expect(groups.nth(0).locator(".group-label")).to_have_text(["`a`: color #0072aa → #0066cc"])
    expect(groups.nth(0)).to_contain_text(f"{PAGES - 2} pages")
    expect(groups.nth(1)).to_contain_text("2 approved")
    page.wait_for_function("document.querySelector('.group .crop').naturalWidth > 0")
    for row in page.locator("table.list tr:has(.pill.diff_found)").all():
        expect(row.locator("td.change")).to_contain_text("`a` ×12: color #0072aa → #0066cc")
    shot(page, "20-release-groups")
    groups.nth(0).locator("button:has-text('Approve these 10')").click()
    expect(page.locator(".messages")).to_contain_text("Approved 10 runs")
    assert {r["status"] for r in api.status("words")["runs"]} == {"diff_approved"}

    # The run page opens at the first change, outlined and labelled on the diff; c walks on.
    page.goto(f"{live_server.url}/run?id={build.id}&name=words&number=1&test=/p1")
    expect(page.locator("#causes li")).to_have_count(2)
    expect(page.locator('#modes button[data-mode="diff"]')).to_have_class("on")
    expect(page.locator('[data-view="diff"] .cause-box.current').first).to_be_visible()
    first = page.locator("#causes li.on").inner_text()
    page.keyboard.press("c")
    expect(page.locator("#causes li.on")).not_to_have_text(first)
    page.goto(f"{live_server.url}/run?id={build.id}&name=padding&number=1&test=/p3")
    expect(page.locator("#causes li")).to_have_text(
        ["`dt` ×3: padding-top 0px → 4px; page 12 px taller"]
    )
    expect(page.locator("#shifts")).to_have_count(0)  # moves are the cause's consequence
    expect(page.locator("#moved-note")).to_contain_text("moved because of them")
    # Content moved: the page opens on the aligned diff (what only moved is not red there), the
    # causes outlined on it too, scrolled to the first: the dt are low on the page.
    expect(page.locator('#modes button[data-mode="aligned"]')).to_have_class("on")
    page.wait_for_function("window.scrollY > 300")
    box = page.locator('[data-view="aligned"] .cause-box.current').first
    expect(box).to_be_in_viewport()
    shot(page, "21-run-causes")

    # (d) A clock and a stamp change on every page: the clock is ignored by the build, the
    # stamp by the config of pages 1-6. Those are unchanged and still show the new values.
    stamped = release(
        "stamps", {"all": {"clock": "11:00", "stamp": "b2"}}, ignore_stamp_on=range(1, 7)
    )
    assert {statuses(stamped)[f"/p{n}"] for n in range(1, 7)} == {"diff_not_found"}
    for n in range(7, PAGES + 1):  # page 12 too: its random box is noise beside the stamp
        run = stamped["by_name"][f"/p{n}"]
        assert run["status"] == "diff_found"
        assert [cause["kind"] for cause in run["causes"]] == ["text"]
        assert "b1" in run["summary"] and "b2" in run["summary"] and "11:00" not in run["summary"]
    p1 = stamped["by_name"]["/p1"]
    old = np.asarray(Image.open(io.BytesIO(download(p1["ref_image"]))).convert("RGB"))
    new = np.asarray(Image.open(io.BytesIO(download(p1["image"]))).convert("RGB"))
    clock = clock_box(download(p1["layout"]))
    x, y, w, h = clock
    assert (old[y : y + h, x : x + w] != new[y : y + h, x : x + w]).any()  # not masked

    # (e) The canvas drawn in another colour: changed, and said to be the canvas.
    canvas = release("canvas", {5: {"canvas": "#cc6633"}})
    p5 = canvas["by_name"]["/p5"]
    assert p5["status"] == "diff_found"
    [cause] = p5["causes"]
    assert cause["kind"] == "pixels" and cause["what"] == "canvas"
    assert p5["summary"].startswith("canvas `#chart` changed at x=")
    assert p5["cause_key"] == ""  # pixels alone: reviewed on its own, in no group
    assert canvas["groups"] == []
    assert statuses(canvas)[f"/p{PAGES}"] == "flaky"


def in_thread(function):
    """``function()`` on a thread of its own: Playwright's event loop owns this one, and the
    ORM refuses to run where an event loop runs."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def alone():
        try:
            return function()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(alone).result()


def second_looks(release_name):
    """How a release's runs were looked at again: their recapture states, and how many runs'
    histories say the capture loaded the page again at once, or a diff's first look asked
    for it."""
    from releases.models import AuditLog, Run

    runs = Run.objects.filter(release__name=release_name)
    messages = list(AuditLog.objects.filter(run__in=runs).values_list("message", flat=True))
    return {
        "recapture": {run.recapture for run in runs},
        "loaded again at once": messages.count(
            "its elements differ from the baseline: loaded again for its layout map"
        ),
        "first looks": sum("loading it again" in message for message in messages),
    }


def clock_box(layout_bytes):
    from pdiff.layout import LayoutMap

    layout = LayoutMap.parse(layout_bytes)
    [clock] = [e for e in layout.elements if "clock" in e.classes]
    assert clock.ignored
    return clock.box


def test_screenshots_uploaded_without_layout_maps_keep_the_pixel_verdict(live, site):
    """(g) The original clients upload screenshots only: no causes, no group, today's
    verdict and summary."""
    before = make_png(300, 200, squares=[(20, 20, 40, (0, 0, 0, 255))])
    after = make_png(
        300, 200, squares=[(20, 20, 40, (0, 0, 0, 255)), (200, 120, 30, (200, 0, 0, 255))]
    )
    live.post("create_release", release_name="r1")
    for name, image in (("/changed", after), ("/same", before)):
        live.post(
            "report_run",
            release_name="r1",
            release_number=1,
            run_name=name,
            ref_image=live.upload(before),
            image=live.upload(image),
        )
    live.post("runs_done", release_name="r1", release_number=1)
    status = live.wait_until_reviewing()
    runs = {run["name"]: run for run in status["runs"]}
    changed = runs["/changed"]
    assert changed["status"] == "diff_found" and changed["changed_pixels"] == 900
    assert changed["causes"] == [] and changed["cause_key"] == ""
    assert changed["summary"] == "1 block changed at y=120–150 (after)"
    assert runs["/same"]["status"] == "diff_not_found"
    assert status["groups"] == []
