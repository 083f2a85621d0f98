"""End to end: request_run over HTTP, a real worker process capturing with real Chromium
pages served on 127.0.0.1, then the diff and the release lifecycle."""

import json
import time

import pytest

from artifacts import storage, thumbnails
from artifacts.models import Artifact
from releases import services
from releases.models import ApiKey, Run
from tests.e2e.conftest import LiveApi
from tests.processes import thread_niceness

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARTICLE = (
    "<html><head><style>body{{font-family:'DejaVu Sans';margin:32px;background:#fff}}"
    "</style></head><body><h1>Release notes</h1><p>The {word} brown fox jumps over the "
    "lazy dog.</p></body></html>"
)
CONFIG = json.dumps({"viewportSize": {"width": 800, "height": 600}})


def request_pair(live, run_name, url, ref_url):
    return live.post(
        "request_run",
        release_name="r1",
        release_number=1,
        run_name=run_name,
        url=url,
        config=CONFIG,
        ref_url=ref_url,
        ref_config=CONFIG,
    )


def test_pages_differing_by_one_word_are_diff_found(live, site):
    before = site.add("/v1/notes", ARTICLE.format(word="quick"))
    after = site.add("/v2/notes", ARTICLE.format(word="slow"))
    same_before = site.add("/v1/about", ARTICLE.format(word="same"))
    same_after = site.add("/v2/about", ARTICLE.format(word="same"))
    live.post("create_release", release_name="r1")
    answer = request_pair(live, "/notes", after, before)
    assert answer["ref_url"] == before and len(answer["config"]) == 40
    request_pair(live, "/about", same_after, same_before)
    live.post("runs_done", release_name="r1", release_number=1)

    status = live.wait_until_reviewing(timeout=120)
    runs = {run["name"]: run for run in status["runs"]}
    assert runs["/notes"]["status"] == "diff_found", runs
    assert runs["/notes"]["changed_pixels"] > 0
    assert runs["/about"]["status"] == "diff_not_found", runs
    for run in runs.values():
        assert run["image"] and run["ref_image"] and run["log"] and run["ref_log"]
    log = live.session.get(
        f"{live.base}/download",
        params={"build_id": live.build_id, "sha1sum": runs["/notes"]["log"]},
        timeout=30,
    ).text
    assert "main document: HTTP 200" in log


def test_failing_page_ends_the_run_failed_and_the_release_still_finishes(live, site):
    good = site.add("/ok", ARTICLE.format(word="fine"))
    broken = site.add("/broken", "server error", status=500)
    live.post("create_release", release_name="r1")
    live.post(
        "request_run", release_name="r1", release_number=1, run_name="/ok", url=good, config=CONFIG
    )
    live.post(
        "request_run",
        release_name="r1",
        release_number=1,
        run_name="/broken",
        url=broken,
        config=CONFIG,
    )
    live.post("runs_done", release_name="r1", release_number=1)

    runs = {run["name"]: run for run in live.wait_until_reviewing(timeout=120)["runs"]}
    assert runs["/ok"]["status"] == "no_diff_needed"  # no baseline yet: this is one
    thumbnail = storage.read_bytes(Run.objects.get(name="/ok").thumbnail_id)  # by the worker
    assert thumbnail[8:12] == b"WEBP" and len(thumbnail) < 50_000
    assert runs["/broken"]["status"] == "failed"
    assert runs["/broken"]["failure_reason"] == (
        f"capture failed: {broken} answered HTTP 500 (after 2 attempts)"
    )
    assert runs["/broken"]["log"]  # the capture log is kept with the failed run
    assert len(site.seen("/broken")) == 2  # bounded retries


def test_the_workers_chromium_runs_at_the_capture_niceness(live, site, celery_worker):
    """DPXDT_CAPTURE_NICE (10 by default): the worker's Chromium yields the CPU to the diff
    and the web server; the worker itself keeps its priority."""
    from common.procs import descendants

    url = site.add("/nice", ARTICLE.format(word="nice"))
    live.post("create_release", release_name="r1")
    live.post(
        "request_run", release_name="r1", release_number=1, run_name="/nice", url=url, config=CONFIG
    )
    live.post("runs_done", release_name="r1", release_number=1)
    live.wait_until_reviewing(timeout=120)
    pid = celery_worker.process.pid
    threads = thread_niceness(descendants(pid))
    chromium = [nice for program, _, nice in threads if "chromium" in program]
    assert chromium and set(chromium) == {10}, sorted(set(threads))
    assert {nice for _, _, nice in thread_niceness([pid])} == {0}


def test_good_release_becomes_the_baseline_of_the_next(live, site):
    url = site.add("/home", ARTICLE.format(word="quick"))
    same = site.add("/same", ARTICLE.format(word="same"))

    def release(name):
        live.post("create_release", release_name=name)
        for run_name, page in (("/home", url), ("/same", same)):
            live.post(
                "request_run",
                release_name=name,
                release_number=1,
                run_name=run_name,
                url=page,
                config=CONFIG,
            )
        live.post("runs_done", release_name=name, release_number=1)
        runs = live.wait_until_reviewing(name, timeout=120)["runs"]
        return {run["name"]: run for run in runs}

    first = release("first")
    assert {run["status"] for run in first.values()} == {"no_diff_needed"}
    live.post("mark_release", release_name="first", release_number=1, status="good")

    site.add("/home", ARTICLE.format(word="lazy"))  # the page changes
    second = release("second")
    assert second["/home"]["status"] == "diff_found"
    assert second["/home"]["ref_image"] == first["/home"]["image"]
    assert second["/same"]["status"] == "diff_not_found"
    # Thumbnails: a page with no baseline, or the same bytes as its baseline, gets one from its
    # capture; a changed page only from its diff, of the diff image. So three in all: the
    # first release's two (/same's again in the second) and the diff's.
    home = Run.objects.get(release__name="second", name="/home")
    assert storage.read_bytes(home.thumbnail_id) == thumbnails.thumbnail(
        storage.read_bytes(home.diff_image_id)
    )
    assert Run.objects.get(release__name="second", name="/same").thumbnail_id == (
        Run.objects.get(release__name="first", name="/same").thumbnail_id
    )
    # The fourth picture: the changed run's before/after crop of its change (its group's).
    assert home.cause_crop_id and home.cause_crop_id != home.thumbnail_id
    crops = Run.objects.exclude(cause_crop=None).values("cause_crop")
    assert Artifact.objects.filter(content_type="image/webp").exclude(sha1__in=crops).count() == 3


def test_a_catastrophic_regex_finishes_within_ten_seconds(live, site):
    slow = "/" + "a" * 50
    site.add(slow, b"\x89PNG", content_type="image/png")
    url = site.add("/regex", f"<img src='{slow}'><p>regex</p>")
    config = json.dumps(
        {"viewportSize": {"width": 800, "height": 600}, "resourcesToIgnore": ["(a+)+b"]}
    )
    live.post("create_release", release_name="r1")
    started = time.monotonic()
    live.post(
        "request_run",
        release_name="r1",
        release_number=1,
        run_name="/regex",
        url=url,
        config=config,
    )
    live.post("runs_done", release_name="r1", release_number=1)
    run = live.wait_until_reviewing(timeout=10)["runs"][0]
    assert time.monotonic() - started < 10
    assert run["status"] == "no_diff_needed" and run["image"], run


SPY = (
    "<script>setInterval(() => fetch('/report?c=' + encodeURIComponent(document.cookie)),"
    " 50)</script><p>spy</p>"
)


def test_a_popup_of_one_build_never_sees_another_builds_cookies(live, live_server, site):
    site.add("/spy", SPY)
    site.add("/report", "ok", content_type="text/plain")
    opener = site.add("/opener", "<p>B</p><script>window.open('/spy', 'spy')</script>")
    victim = site.add("/account", "<p>A</p>")
    other = services.create_build(name="Build B")
    key, secret = ApiKey.create(build=other, purpose="e2e")
    build_b = LiveApi(live_server.url, other.id, key.id, secret)
    build_b.post("create_release", release_name="r1")
    build_b.post(
        "request_run",
        release_name="r1",
        release_number=1,
        run_name="/opener",
        url=opener,
        config=json.dumps({"delayMs": 600}),
    )
    build_b.post("runs_done", release_name="r1", release_number=1)
    build_b.wait_until_reviewing(timeout=60)
    assert site.seen_prefix("/report")  # the popup ran during B's capture

    cookie = {"name": "session", "value": "build-a-session-token"}
    live.post("create_release", release_name="r1")
    live.post(
        "request_run",
        release_name="r1",
        release_number=1,
        run_name="/account",
        url=victim,
        config=json.dumps({"cookies": [cookie], "delayMs": 800}),
    )
    live.post("runs_done", release_name="r1", release_number=1)
    assert live.wait_until_reviewing(timeout=60)["runs"][0]["status"] == "no_diff_needed"
    time.sleep(0.5)
    assert site.seen("/account")[0].headers.get("cookie") == "session=build-a-session-token"
    assert not any("build-a-session-token" in r.path for r in site.seen_prefix("/report"))


NOISY = (
    "<html><head><style>body{{font-family:'DejaVu Sans';margin:32px;background:#fff}}"
    "#ad{{width:200px;height:120px;margin-top:40px}}</style></head><body>"
    "<h1>Release notes</h1><p>The {word} brown fox jumps over the lazy dog.</p>"
    "<div id='ad'></div><script>document.getElementById('ad').style.background = "
    "'rgb(' + [0, 0, 0].map(() => Math.floor(Math.random() * 256)).join(',') + ')';"
    "</script></body></html>"
)


def test_a_page_that_differs_from_itself_is_flaky_and_its_noise_is_masked(live, site):
    """A box with a random colour on every load: its element names the difference, so the page
    is loaded again for its layout map alone (no second screenshot), and the box's colour
    differs between the two loads: noise. A run whose only difference is the box is flaky; a
    run with a real change beside it is diff_found with that change as its one cause and the
    box masked out."""
    changed_v1 = site.add("/v1/changed", NOISY.format(word="quick"))
    changed_v2 = site.add("/v2/changed", NOISY.format(word="slow"))
    noisy_v1 = site.add("/v1/noisy", NOISY.format(word="same"))
    noisy_v2 = site.add("/v2/noisy", NOISY.format(word="same"))
    live.post("create_release", release_name="first")
    for name, url in (("/changed", changed_v1), ("/noisy", noisy_v1)):
        live.post(
            "request_run",
            release_name="first",
            release_number=1,
            run_name=name,
            url=url,
            config=CONFIG,
        )
    live.post("runs_done", release_name="first", release_number=1)
    live.wait_until_reviewing("first", timeout=120)
    live.post("mark_release", release_name="first", release_number=1, status="good")

    live.post("create_release", release_name="second")
    for name, url in (("/changed", changed_v2), ("/noisy", noisy_v2)):
        live.post(
            "request_run",
            release_name="second",
            release_number=1,
            run_name=name,
            url=url,
            config=CONFIG,
        )
    live.post("runs_done", release_name="second", release_number=1)
    status = live.wait_until_reviewing("second", timeout=180)
    runs = {run["name"]: run for run in status["runs"]}

    def diff_log(run):
        return json.loads(
            live.session.get(
                f"{live.base}/download",
                params={"build_id": live.build_id, "sha1sum": run["diff_log"]},
                timeout=30,
            ).content
        )

    noisy = runs["/noisy"]
    assert noisy["status"] == "flaky", noisy
    assert noisy["changed_pixels"] == 0  # nothing but the noise differed
    assert len(site.seen("/v2/noisy")) == 2  # captured, then loaded again
    assert noisy["noise_image"] is None  # the second load took no screenshot
    assert noisy["summary"].startswith("the page differs from itself (`#ad`: background-color")
    [noise] = diff_log(noisy)["noise_causes"]
    assert noise["selector"] == "#ad" and noise["changes"][0][0] == "background-color"

    changed = runs["/changed"]
    assert changed["status"] == "diff_found", changed
    assert len(site.seen("/v2/changed")) == 2
    log = diff_log(changed)
    [cause] = changed["causes"]  # the word, not the box
    assert cause["kind"] == "text" and cause["changes"][0][1:] == [
        "The quick brown fox jumps over the lazy dog.",
        "The slow brown fox jumps over the lazy dog.",
    ]
    assert [c["selector"] for c in log["noise_causes"]] == ["#ad"]
    [region] = log["regions"]  # the changed word only: the box is masked out
    ad_box = log["noise_causes"][0]["boxes"][0]
    assert region["y"] + region["height"] <= ad_box[1]
    assert 0 < changed["changed_pixels"] < 5000

    assert status["counts"]["flaky"] == 1 and status["counts"]["diff_found"] == 1
    assert status["flaky_blocks"] is False


NOISY_CANVAS = (
    "<html><head><style>body{{font-family:'DejaVu Sans';margin:32px;background:#fff}}"
    "</style></head><body><h1>Release notes</h1><p>Same words.</p>"
    "<canvas id='chart' width='200' height='120'></canvas><script>"
    "const c = document.getElementById('chart').getContext('2d');"
    "c.fillStyle = 'rgb(' + [0, 0, 0].map(() => Math.floor(Math.random() * 256)).join(',') + ')';"
    "c.fillRect(0, 0, 200, 120);</script></body></html>"
)


def test_noise_no_element_explains_is_checked_with_a_second_screenshot(live, site):
    """A canvas painted a random colour: no element's values change, so pixels alone say the
    page differs; it is captured again (a screenshot), and what differs between the two
    screenshots is noise: the run is flaky, with its noise mask."""
    url = site.add("/chart", NOISY_CANVAS.format())
    for name in ("first", "second"):
        live.post("create_release", release_name=name)
        live.post(
            "request_run",
            release_name=name,
            release_number=1,
            run_name="/chart",
            url=url,
            config=CONFIG,
        )
        live.post("runs_done", release_name=name, release_number=1)
        status = live.wait_until_reviewing(name, timeout=120)
        if name == "first":
            live.post("mark_release", release_name=name, release_number=1, status="good")
    [run] = status["runs"]
    assert run["status"] == "flaky", run
    assert run["noise_image"] and run["noise_pixels"] >= 200 * 120 * 0.9
    assert len(site.seen("/chart")) == 3  # the baseline, the new page, and a second screenshot


def test_secrets_reach_the_page_but_no_viewer(live, live_server, site):
    """A public build's run: the capture logs in with the password, sends the cookie and the
    bearer token, yet neither an anonymous visitor nor the owner sees them in the run page or
    the config download."""
    import requests

    from releases.models import Build, Run

    Build.objects.filter(pk=live.build_id).update(public=True)
    url = site.add("/private", ARTICLE.format(word="secret"), auth=("ci", "hunter2"))
    config = json.dumps(
        {
            "httpUserName": "ci",
            "httpPassword": "hunter2",
            "cookies": [{"name": "sid", "value": "s3ssion"}],
            "injectHeaders": {r"127\.0\.0\.1": {"Authorization-Extra": "Bearer t0ken"}},
        }
    )
    live.post("create_release", release_name="r1")
    live.post(
        "request_run",
        release_name="r1",
        release_number=1,
        run_name="/private",
        url=url,
        config=config,
    )
    live.post("runs_done", release_name="r1", release_number=1)
    run = live.wait_until_reviewing(timeout=120)["runs"][0]
    assert run["status"] == "no_diff_needed", run  # captured: the password worked
    seen = site.seen("/private")[-1].headers
    assert "sid=s3ssion" in seen["cookie"] and seen["authorization-extra"] == "Bearer t0ken"

    anonymous = requests.Session()
    stored = anonymous.get(
        f"{live.base}/download",
        params={"build_id": live.build_id, "sha1sum": run["config"]},
        timeout=30,
    )
    assert stored.status_code == 200
    page = anonymous.get(
        f"{live_server.url}/run",
        params={"id": live.build_id, "name": "r1", "number": 1, "test": "/private"},
        timeout=30,
    )
    owner_page = live.session.get(
        f"{live_server.url}/run",
        params={"id": live.build_id, "name": "r1", "number": 1, "test": "/private"},
        timeout=30,
    )
    for text in (stored.text, page.text, owner_page.text):
        for secret in ("hunter2", "s3ssion", "t0ken"):
            assert secret not in text
    assert "••••" in stored.text and "••••" in page.text
    assert Run.objects.get().config_secrets  # kept, encrypted, for the worker
