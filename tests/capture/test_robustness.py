"""The capture engine on real work (real Chromium, pages served on 127.0.0.1): tall pages in
stripes, the same bytes under load, isolation between builds, bounded regex work, the network
policy and Chromium's sandbox."""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from capture import config as capture_config
from capture import png as pngs
from capture.browser import Browser, CaptureError
from capture.netpolicy import NetworkPolicy
from common.procs import descendants
from pdiff import core
from tests import pythondoc
from tests.conftest import wait_for
from tests.processes import process_alive, thread_niceness

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def browser():
    browser = Browser()
    yield browser
    browser.close()


def capture(browser, url, partition="", **config):
    return browser.capture(capture_config.parse(config).with_target(url), partition)


BANDS = "".join(
    f"<div style='height:1000px;background:hsl({(i * 47) % 360},80%,50%)'></div>" for i in range(40)
)
TALL = f"<body style='margin:0'>{BANDS}</body>"


def band_colour(pixels, index):
    return tuple(int(c) for c in pixels[index * 1000 + 500, 640, :3])


def test_tall_page_is_cut_at_max_height_in_one_screenshot(browser, site):
    result = capture(browser, site.add("/tall", TALL))
    assert pngs.size(result.png) == (1280, 32768)
    assert "stripes" not in result.log  # maxHeight's default fits one screenshot
    assert "the page is 40000 px tall; the screenshot is cut at 32768 px (maxHeight)" in result.log
    pixels = core.decode(result.png)  # diffable: the diff reads it
    colours = [band_colour(pixels, i) for i in range(32)]
    # Every band painted: no tile left blank.
    assert len(set(colours)) == len({(i * 47) % 360 for i in range(32)})
    assert (255, 255, 255) not in colours


def test_a_page_over_one_screenshot_is_taken_in_stripes_and_stitched(browser, site):
    result = capture(browser, site.add("/tall", TALL), maxHeight=40000)
    assert pngs.size(result.png) == (1280, 40000)
    assert "(2 stripes)" in result.log
    pixels = core.decode(result.png)
    colours = [band_colour(pixels, i) for i in range(40)]
    assert len(set(colours)) == len({(i * 47) % 360 for i in range(40)})
    assert (255, 255, 255) not in colours
    seam = pixels[32764:32774, :, :3]
    assert (seam == seam[0, 0]).all()  # band 32 runs through the seam (32768) unbroken


def test_max_height_and_the_pixel_budget_cut_the_page(site):
    url = site.add("/tall", TALL)
    browser = Browser(max_pixels=1280 * 5000)
    try:
        result = capture(browser, url)
        assert pngs.size(result.png) == (1280, 5000)
        assert "DPXDT_CAPTURE_MAX_PIXELS" in result.log
        assert pngs.size(capture(browser, url, maxHeight=1200).png) == (1280, 1200)
        with pytest.raises(CaptureError, match="clipRect is over the limit"):
            capture(browser, url, clipRect={"left": 0, "top": 0, "width": 1280, "height": 6000})
    finally:
        browser.close()


@pytest.fixture(scope="module")
def docs():
    server, base = pythondoc.serve()
    yield base
    server.shutdown()
    server.server_close()


def test_five_tallest_doc_pages_give_identical_bytes_under_load(browser, docs):
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        for name in pythondoc.TALLEST:
            url = f"{docs}/library/{name}.html"
            shots = [capture(browser, url).png for _ in range(3)]
            digests = {hashlib.sha1(png).hexdigest() for png in shots}
            assert len(digests) == 1, f"{name}: {len(digests)} different captures"
            width, height = pngs.size(shots[0])
            assert width == 1280 and height > 9000, name
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def test_two_lanes_capture_at_once_and_give_the_bytes_of_one_at_a_time(browser, docs):
    """Browser(lanes=2): two captures in flight in one Chromium, on their own contexts; each
    page comes out byte for byte as when captured alone."""
    from concurrent.futures import ThreadPoolExecutor

    names = [*pythondoc.TALLEST[:3], "copy", "email"]
    alone = {name: capture(browser, f"{docs}/library/{name}.html").png for name in names}
    lanes = Browser(lanes=2)
    try:
        with ThreadPoolExecutor(2) as pool:
            together = list(
                pool.map(lambda name: capture(lanes, f"{docs}/library/{name}.html"), names * 2)
            )
        contexts = {key[0] for key in lanes._engine.contexts}
    finally:
        lanes.close()
    assert contexts == {0, 1}  # both lanes were used
    for name, result in zip(names * 2, together, strict=True):
        assert hashlib.sha1(result.png).digest() == hashlib.sha1(alone[name]).digest(), name


def test_a_lane_that_must_restart_chromium_waits_for_the_other_lanes_capture(site):
    """A capture that times out restarts Chromium, but only once the capture running in the
    other lane has finished: that one is not cut short."""
    from concurrent.futures import ThreadPoolExecutor

    busy = site.add(
        "/busy-lane",
        "<body><script>setInterval(() => fetch('/poll-lane?' + Math.random()), 20);</script>",
    )
    site.add("/poll-lane", "{}", content_type="application/json")
    slow = site.add("/slow-lane", "<p>slow but fine</p>")
    lanes = Browser(lanes=2)
    try:
        capture(lanes, slow)  # Chromium started
        with ThreadPoolExecutor(2) as pool:
            failing = pool.submit(capture, lanes, busy, timeoutMs=2000)
            time.sleep(0.5)
            fine = pool.submit(capture, lanes, slow, delayMs=3000)
            with pytest.raises(CaptureError, match="page never settled within 2 s"):
                failing.result(timeout=60)
            result = fine.result(timeout=60)
        assert pngs.size(result.png)[0] == 1280 and "page ready" in result.log
        assert lanes._engine.generation == 1  # restarted once, after the slow capture
        assert capture(lanes, slow).http_status == 200
    finally:
        lanes.close()


def test_lanes_are_refused_with_a_network_policy():
    with pytest.raises(ValueError, match="needs lanes=1"):
        Browser(policy=NetworkPolicy.from_settings(), lanes=2)


SPY = """<script>
setInterval(
  () => fetch('/report?t=' + Date.now() + '&c=' + encodeURIComponent(document.cookie)), 50);
</script><p>spy</p>"""
OPENER = "<p>build B</p><script>window.open('/spy', 'spy')</script>"


def issued_at_ms(report):
    """When the spy sent a report, by the page's clock (Date.now(), the machine's wall clock)."""
    return int(urllib.parse.parse_qs(urllib.parse.urlsplit(report.path).query)["t"][0])


def test_a_popup_never_outlives_its_capture_nor_sees_another_builds_cookies(browser, site):
    site.add("/spy", SPY)
    site.add("/report", "ok", content_type="text/plain")
    capture(browser, site.add("/opener", OPENER), partition="build-b", delayMs=600)
    b_ended_ms = time.time() * 1000
    assert site.seen_prefix("/report")  # the popup did run, and report, while B's capture lasted
    result = capture(
        browser,
        site.add("/a", "<p>build A</p>"),
        partition="build-a",
        cookies=[{"name": "token", "value": "build-a-secret"}],
        delayMs=800,
    )
    time.sleep(0.5)
    reports = site.seen_prefix("/report")
    assert not any("build-a-secret" in report.path for report in reports)
    # Closed with B's capture: nothing sent since. (A report sent just before the close may
    # still land afterwards, so the time it was sent is what counts, not when it arrived.)
    assert max(issued_at_ms(report) for report in reports) <= b_ended_ms
    assert result.http_status == 200


def test_a_popup_is_closed_before_the_next_capture_of_the_same_build(browser, site):
    site.add("/spy", SPY)
    site.add("/report", "ok", content_type="text/plain")
    result = capture(browser, site.add("/opener", OPENER), partition="build-b", delayMs=300)
    assert "the page opened a window" in result.log
    capture(
        browser,
        site.add("/next", "<p>next</p>"),
        partition="build-b",
        cookies=[{"name": "later", "value": "same-build-later-cookie"}],
        delayMs=500,
    )
    assert not any("same-build-later-cookie" in r.path for r in site.seen_prefix("/report"))


def test_a_catastrophic_regex_is_matched_in_linear_time(browser, site):
    slow_url = "/" + "a" * 50
    site.add(slow_url, b"\x89PNG", content_type="image/png")
    url = site.add("/regex", f"<img src='{slow_url}'><p>x</p>")
    started = time.monotonic()
    result = capture(
        browser, url, resourcesToIgnore=["(a+)+b"], injectHeaders={"(a+)+b": {"X": "y"}}
    )
    assert time.monotonic() - started < 10
    assert result.png.startswith(pngs.SIGNATURE)
    assert site.seen(slow_url)  # no "b": not ignored, and it was not stuck on the way


def test_lookaround_is_refused_with_the_key_named():
    with pytest.raises(capture_config.ConfigError, match="resourcesToIgnore.*not a valid RE2"):
        capture_config.parse({"resourcesToIgnore": ["(?=x)y"]})


def test_network_policy_blocks_denied_requests_and_fails_a_denied_page(site, other_site):
    denied = other_site.add("/pixel.png", b"\x89PNG", content_type="image/png")
    port = other_site.url.rsplit(":", 1)[1]
    policy = NetworkPolicy.from_settings(deny=f"127.0.0.1:{port}")
    browser = Browser(policy=policy)
    try:
        result = capture(browser, site.add("/page", f"<img src='{denied}'><p>page</p>"))
        assert f"blocked by the capture network policy: {denied}" in result.log
        assert not other_site.seen("/pixel.png")
        assert site.seen("/page")  # allowed: another port of the same address
        with pytest.raises(
            CaptureError,
            match="is denied by the capture network policy: "
            f"127.0.0.1:{port} matches DPXDT_CAPTURE_DENY",
        ):
            capture(browser, other_site.add("/", "<p>denied</p>"))
        # A redirect to a denied address is checked too.
        hop = site.add("/hop", "", status=302, headers={"Location": f"{other_site.url}/"})
        with pytest.raises(CaptureError, match="denied by the capture network policy"):
            capture(browser, hop)
        assert not other_site.seen("/")
    finally:
        browser.close()


def test_the_depicted_server_itself_is_denied_by_default(site, other_site):
    policy = NetworkPolicy.from_settings(public_url=other_site.url, own_addresses=["127.0.0.1"])
    browser = Browser(policy=policy)
    try:
        with pytest.raises(CaptureError, match="is the Depicted server itself"):
            capture(browser, other_site.add("/admin/", "<p>admin</p>"))
        assert capture(browser, site.add("/ok", "<p>ok</p>")).http_status == 200
    finally:
        browser.close()


SANDBOX_PROBE = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r})
    from capture import config
    from capture.browser import Browser
    browser = Browser()
    result = browser.capture(config.parse({{}}).with_target({url!r}))
    from common.procs import descendants
    args = []
    for pid in descendants(os.getpid()):  # this process's Chromium only
        try:
            args.append(open(f"/proc/{{pid}}/cmdline", "rb").read().decode(errors="replace"))
        except OSError:
            pass
    chromium = [a for a in args if "chromium" in a and "--type=renderer" in a]
    print("renderers", len(chromium), "no-sandbox", sum("--no-sandbox" in a for a in chromium))
    print("png", len(result.png))
    browser.close()
""")


def test_chromium_runs_sandboxed_when_the_worker_is_not_root(site):
    url = site.add("/", "<p>sandboxed</p>")
    # A folder the unprivileged user can read (pytest's tmp_path is private to root).
    tmp_path = Path(tempfile.mkdtemp(prefix="dpxdt-sandbox-"))
    tmp_path.chmod(0o755)
    script = tmp_path / "probe.py"
    script.write_text(SANDBOX_PROBE.format(root=str(ROOT), url=url))
    script.chmod(0o644)
    if os.geteuid() == 0:
        command = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            str(script),
        ]
    else:
        command = [sys.executable, str(script)]
    output = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert output.returncode == 0, output.stderr[-3000:]
    assert "no-sandbox 0" in output.stdout and "renderers 0" not in output.stdout
    assert "sandbox is off" not in output.stderr
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.django_db
def test_as_root_the_sandbox_is_off_with_a_warning_in_the_worker_log(site, caplog):
    """The advice is the capture worker's (capture.services), not the engine's: the local tool
    uses the engine and does not print it."""
    from capture import services

    if os.geteuid() != 0:
        pytest.fail("this test checks the root case and must run as root (CI does)")
    services.close_browser()
    try:
        with caplog.at_level("WARNING"):
            capture(services.shared_browser(), site.add("/", "<p>root</p>"))
        assert "running as root: Chromium's sandbox is off" in caplog.text
        caplog.clear()
        with caplog.at_level("DEBUG"):
            browser = Browser()
            capture(browser, site.add("/engine", "<p>root</p>"))
            browser.close()
        assert "sandbox" not in caplog.text
    finally:
        services.close_browser()


def test_chromium_runs_at_the_niceness_asked_for_and_cannot_raise_it_again(site):
    """Every thread of the driver and of Chromium runs at ``nice``; as root too, where Chromium
    would otherwise set its compositor threads to -8 and its thread pool to 0."""
    browser = Browser(nice=10)
    try:
        result = capture(browser, site.add("/nice", "<p>nice</p>"))
        driver = browser._engine.driver_pid()  # not the session's other Chromiums
        threads = thread_niceness([driver, *descendants(driver)])
    finally:
        browser.close()
    assert result.http_status == 200
    programs = {program for program, _, _ in threads}
    assert "node" in programs and any("chromium" in program for program in programs), programs
    assert any(name == "VizCompositorTh" for _, name, _ in threads)  # one Chromium sets to -8
    assert {nice for _, _, nice in threads} == {10}, sorted(set(threads))
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == 0  # the caller's


def test_a_niceness_is_only_ever_raised():
    from common.procs import lower_priority

    seen = []

    def in_a_thread():
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, 12)
        lower_priority(10)
        seen.append(os.getpriority(os.PRIO_PROCESS, me))
        lower_priority(14)
        seen.append(os.getpriority(os.PRIO_PROCESS, me))

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == [12, 14]
    with pytest.raises(ValueError, match="nice must be between 0 and 19, not 20"):
        Browser(nice=20)


def test_a_capture_whose_engine_is_stuck_is_abandoned_and_the_next_one_works(site, monkeypatch):
    import capture.browser as engine_module
    import capture.session as session_module

    class Stuck:  # a pattern whose matching blocks the engine's loop (RE2 never does this)
        def search(self, url):
            time.sleep(30)

    monkeypatch.setattr(engine_module, "BACKSTOP_SECONDS", 2)
    monkeypatch.setattr(session_module, "compile_regex", lambda pattern: Stuck())
    browser = Browser()
    try:
        url = site.add("/stuck", "<img src='/img.png'><p>stuck</p>")
        capture(browser, site.add("/first", "<p>first</p>"))  # Chromium runs
        stuck_driver = browser._engine.driver_pid()
        stuck_processes = [stuck_driver, *descendants(stuck_driver)]
        assert len(stuck_processes) > 2  # the driver, Chromium and its helpers
        started = time.monotonic()
        with pytest.raises(CaptureError, match="abandoned and the browser started afresh"):
            capture(browser, url, timeoutMs=2000, resourcesToIgnore=["x"])
        assert time.monotonic() - started < 10
        # The stuck engine's driver and Chromium are killed, not left running.
        wait_for(lambda: not any(process_alive(pid) for pid in stuck_processes), timeout=10)
        monkeypatch.undo()
        result = capture(browser, site.add("/next", "<p>next</p>"))
        assert result.http_status == 200
    finally:
        browser.close()


def test_through_the_policy_proxy_an_unreachable_page_fails_with_the_cause(site):
    import socket

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    browser = Browser(policy=NetworkPolicy.from_settings())
    try:
        with pytest.raises(
            CaptureError,
            match=f"could not load http://127.0.0.1:{port}/: could "
            f"not connect to 127.0.0.1:{port}: Connection "
            "refused",
        ):
            capture(browser, f"http://127.0.0.1:{port}/", timeoutMs=5000)
        with pytest.raises(CaptureError, match="could not resolve no-such-host.invalid"):
            capture(browser, "http://no-such-host.invalid/", timeoutMs=5000)
        assert capture(browser, site.add("/", "<p>up</p>")).http_status == 200
    finally:
        browser.close()


@pytest.mark.parametrize(
    "scale, css", [(1, 32768), (2, 16384), (1.5, 21844), (1.25, 26212), (3, 10922)]
)
def test_stripes_are_whole_device_pixels_at_every_scale(scale, css):
    from capture.session import STRIPE_PIXELS, stripe_height

    assert stripe_height(scale) == css
    assert float(css * scale).is_integer() and css * scale <= STRIPE_PIXELS


def test_a_tall_page_at_scale_two_is_striped_without_a_seam(browser, site):
    result = capture(
        browser,
        site.add("/tall", TALL),
        deviceScaleFactor=2,
        maxHeight=20000,
        viewportSize={"width": 400, "height": 300},
    )
    assert pngs.size(result.png) == (800, 40000)
    assert "(2 stripes)" in result.log
    pixels = core.decode(result.png)
    for band in range(20):  # each 1000 CSS px band is 2000 device rows of one colour
        rows = pixels[band * 2000 + 2 : band * 2000 + 1998, 400, :3]
        assert (rows == rows[0]).all(), band
    assert (pixels[32764:32774, 400, :3] == pixels[32764, 400, :3]).all()  # the seam


@pytest.mark.parametrize(
    "config, reason",
    [
        ({"timezoneId": "Mars/Olympus_Mons"}, "the browser refused the config: Invalid timezone"),
        ({"userAgent": "Bot\r\nX: 1"}, "the browser refused the config: Invalid characters"),
        ({"locale": "en\x00GB"}, "the browser refused the config: Invalid characters"),
        ({"cookies": [{"name": "a", "value": "b;c"}]}, "the browser refused the cookies"),
        ({"waitForSelector": "div["}, "waitForSelector 'div[': the browser cannot parse it"),
    ],
)
def test_a_config_the_browser_refuses_is_permanent_and_keeps_the_browser(
    browser, site, config, reason
):
    """What request_run's checks would refuse, given to the engine anyway (a config stored
    before the checks, a local tool's): one clear, permanent failure; Chromium is not
    restarted, and the next capture works."""
    url = site.add("/plain", "<h1>fine</h1>")
    capture(browser, url, partition="refusals")
    engine = browser._engine
    generation, chromium = engine.generation, engine.browser
    values = {**config, "targetUrl": url, "timeoutMs": 10000}
    if "cookies" in config:
        values["cookies"] = [{**config["cookies"][0], "url": url}]
    started = time.monotonic()
    with pytest.raises(CaptureError) as refused:
        browser.capture(capture_config.CaptureConfig(values), "refusals")
    assert refused.value.permanent and reason in refused.value.reason
    assert time.monotonic() - started < 5
    assert capture(browser, url, partition="refusals").http_status == 200
    assert (engine.generation, engine.browser) == (generation, chromium)


SHUTDOWN_PROBE = textwrap.dedent("""
    import gc, logging, sys
    sys.path.insert(0, {root!r})
    logging.basicConfig(level=logging.WARNING)
    from capture import config
    from capture.browser import Browser
    from capture.netpolicy import NetworkPolicy
    browser = Browser(policy=NetworkPolicy.from_settings())
    # The slow script is still loading through the proxy when the capture ends.
    page = config.parse({{"resourceTimeoutMs": 300}}).with_target({url!r})
    for _ in range(2):
        print("png", len(browser.capture(page).png), flush=True)
    browser.close()
    gc.collect()
    print("closed", flush=True)
""")


def test_the_engine_shuts_down_with_no_task_left_pending(site):
    """Connections the policy proxy still serves when the browser closes (a resource that never
    finished loading) are ended with it: no asyncio task is left to be destroyed pending."""
    site.add("/never.js", "", delay=20, content_type="text/javascript")
    url = site.add("/", "<p>page</p><script src='/never.js'></script>")
    script = textwrap.dedent(SHUTDOWN_PROBE.format(root=str(ROOT), url=url))
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert output.returncode == 0, output.stderr[-3000:]
    assert output.stdout.count("png ") == 2 and "closed" in output.stdout
    assert "Task was destroyed" not in output.stderr, output.stderr[-3000:]
    assert "was never awaited" not in output.stderr, output.stderr[-3000:]
