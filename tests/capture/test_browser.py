"""Real Chromium against pages served on 127.0.0.1: every config key does what it says."""

import io

import numpy as np
import pytest
from PIL import Image

from capture import config as capture_config
from capture.browser import Browser, CaptureError
from pdiff import core
from pdiff.pngio import PngRows
from tests.conftest import wait_for

pytestmark = pytest.mark.e2e

PLAIN = "<html><body style='margin:0;background:#fff'><h1 id='title'>Hello</h1></body></html>"


@pytest.fixture(scope="module")
def browser():
    browser = Browser()
    yield browser
    browser.close()


def capture(browser, url, partition="", **config):
    return browser.capture(capture_config.parse(config).with_target(url), partition)


def image(result):
    return Image.open(io.BytesIO(result.png)).convert("RGBA")


def pixel(result, x, y):
    return image(result).getpixel((x, y))[:3]


def test_viewport_size_sets_the_image_width(browser, site):
    url = site.add("/", PLAIN)
    result = capture(browser, url, viewportSize={"width": 640, "height": 360}, fullPage=False)
    assert image(result).size == (640, 360)
    assert result.http_status == 200


def test_full_page_is_the_default_and_covers_the_whole_page(browser, site):
    url = site.add(
        "/tall",
        "<body style='margin:0'><div style='height:3000px;background:"
        "linear-gradient(#fff,#00f)'></div></body>",
    )
    assert image(capture(browser, url, viewportSize={"width": 400, "height": 300})).size == (
        400,
        3000,
    )
    viewport_only = capture(
        browser, url, viewportSize={"width": 400, "height": 300}, fullPage=False
    )
    assert image(viewport_only).size == (400, 300)


def test_the_diff_decodes_a_capture_whole(browser, site):
    """The engine's screenshots are plain truecolour PNGs, which pdiff.pngio decodes whole
    itself rather than stream them through libvips; a Chromium that encoded otherwise (a
    palette, interlacing) would quietly make every diff slower."""
    url = site.add("/decoded", "<body style='margin:0'><div style='height:2000px'>x</div></body>")
    result = capture(browser, url)
    pixels = PngRows(result.png, "after").pixels()
    assert pixels is not None and pixels.shape == (2000, 1280, 4)
    assert np.array_equal(pixels, np.asarray(image(result)))


def test_clip_rect_honours_left_and_top(browser, site):
    url = site.add(
        "/clip",
        "<body style='margin:0'><div style='position:absolute;left:100px;"
        "top:700px;width:50px;height:50px;background:#f00'></div>"
        "<div style='height:1200px'></div></body>",
    )
    result = capture(
        browser,
        url,
        viewportSize={"width": 400, "height": 300},
        clipRect={"left": 100, "top": 700, "width": 50, "height": 40},
    )
    assert image(result).size == (50, 40)
    assert pixel(result, 25, 20) == (255, 0, 0)  # the red square, below the fold


def test_page_without_background_is_captured_on_white(browser, site):
    url = site.add("/bare", "<p>no background</p>")
    result = capture(browser, url, viewportSize={"width": 200, "height": 100}, fullPage=False)
    assert image(result).getpixel((199, 99)) == (255, 255, 255, 255)


def test_cookies_reach_the_server(browser, site):
    url = site.add("/c", PLAIN)
    capture(
        browser,
        url,
        cookies=[
            {"name": "session", "value": "abc123"},
            {"name": "lang", "value": "fr", "domain": "127.0.0.1"},
        ],
    )
    cookie_header = site.seen("/c")[-1].headers["cookie"]
    assert "session=abc123" in cookie_header and "lang=fr" in cookie_header


def test_inject_headers_by_url_regex(browser, site):
    url = site.add("/h", PLAIN + "<img src='/asset.png'>")
    site.add("/asset.png", b"", content_type="image/png")
    capture(browser, url, injectHeaders={r"/h$": {"X-Release": "r42"}})
    assert site.seen("/h")[-1].headers["x-release"] == "r42"
    assert "x-release" not in site.seen("/asset.png")[-1].headers


def test_user_agent_is_sent(browser, site):
    url = site.add("/ua", PLAIN)
    capture(browser, url, userAgent="DepictedBot/1.0")
    assert site.seen("/ua")[-1].headers["user-agent"] == "DepictedBot/1.0"


def test_basic_auth(browser, site):
    url = site.add("/private", "<body style='background:#0f0'>secret</body>", auth=("user", "pass"))
    result = capture(browser, url, httpUserName="user", httpPassword="pass", fullPage=False)
    assert pixel(result, 5, 5) == (0, 255, 0)
    # The headless shell shows the server's 401; Chromium fails the navigation instead.
    with pytest.raises(
        CaptureError, match="answered HTTP 401|could not load .*ERR_INVALID_AUTH_CREDENTIALS"
    ):
        capture(browser, url)
    with pytest.raises(CaptureError, match="answered HTTP 401"):
        capture(browser, url, httpUserName="user", httpPassword="wrong")


def test_credentials_go_only_where_they_belong(browser, site, other_site):
    """The password is answered to the run's origin only: an image from another origin and a
    redirect to another origin, both asking for it (401), never receive it; cookies go only
    where their domain says (another host name, the same address, gets none)."""
    other_image = other_site.add("/asks.png", b"", auth=("user", "pass"))
    own_image = site.add("/own.png", b"", auth=("user", "pass"), content_type="image/png")
    url = site.add(
        "/guarded",
        f"<body><img src='{other_image}'><img src='{own_image}'>"
        f"<img src='{other_image.replace('127.0.0.1', 'localhost')}?by-name'></body>",
        auth=("user", "pass"),
    )
    credentials = {"httpUserName": "user", "httpPassword": "pass"}
    cookie = {"cookies": [{"name": "sid", "value": "s3cret"}]}
    capture(browser, url, **credentials, **cookie)
    assert site.seen("/guarded")[-1].headers["authorization"].startswith("Basic ")
    assert site.seen("/own.png")[-1].headers["authorization"].startswith("Basic ")
    asked = other_site.seen("/asks.png")
    assert asked and not any("authorization" in seen.headers for seen in asked)
    by_name = [s for s in other_site.seen_prefix("/asks.png") if "by-name" in s.path]
    assert by_name and not any("sid=" in s.headers.get("cookie", "") for s in by_name)

    target = other_site.add("/moved-here", "<p>elsewhere</p>", auth=("user", "pass"))
    moving = site.add("/moving", status=302, headers={"Location": target}, auth=("user", "pass"))
    with pytest.raises(CaptureError, match="401|ERR_INVALID_AUTH_CREDENTIALS"):
        capture(browser, moving, **credentials)
    assert site.seen("/moving")[-1].headers["authorization"].startswith("Basic ")
    moved = other_site.seen("/moved-here")
    assert moved and not any("authorization" in seen.headers for seen in moved)


def test_ignored_resources_are_never_requested(browser, site):
    url = site.add("/tracked", PLAIN + "<script src='/analytics.js'></script><img src='/logo.png'>")
    site.add("/analytics.js", "window.tracked = 1;", content_type="text/javascript")
    site.add("/logo.png", b"", content_type="image/png")
    result = capture(browser, url, resourcesToIgnore=[r"analytics\.js$"])
    assert site.seen("/analytics.js") == []
    assert site.seen("/logo.png")
    assert "blocked: " in result.log and "analytics.js" in result.log


def test_inject_css_changes_the_screenshot(browser, site):
    url = site.add("/css", PLAIN)
    result = capture(
        browser, url, injectCss="body { background: #00f !important; }", fullPage=False
    )
    assert pixel(result, 500, 500) == (0, 0, 255)


def test_inject_js_changes_the_page(browser, site):
    url = site.add(
        "/js",
        "<body style='margin:0'><div id='box' style='width:100px;"
        "height:100px;background:#fff'></div></body>",
    )
    result = capture(
        browser,
        url,
        fullPage=False,
        injectJs="document.getElementById('box').style.background = '#f00';",
    )
    assert pixel(result, 50, 50) == (255, 0, 0)


def test_inject_js_may_click_and_navigate(browser, site):
    site.add("/next", "<body style='background:#0f0'>next page</body>")
    url = site.add("/start", "<body><a id='go' href='/next'>go</a></body>")
    result = capture(
        browser, url, fullPage=False, injectJs="document.getElementById('go').click();"
    )
    assert pixel(result, 300, 300) == (0, 255, 0)
    assert site.seen("/next")


def test_inject_js_error_fails_with_its_message(browser, site):
    url = site.add("/throws", PLAIN)
    with pytest.raises(CaptureError, match="injectJs threw: .*no such widget"):
        capture(browser, url, injectJs="throw new Error('no such widget')")


def test_hide_selectors_keep_layout_but_hide(browser, site):
    url = site.add(
        "/hide",
        "<body style='margin:0'><div class='ad' style='width:100px;"
        "height:100px;background:#f00'></div></body>",
    )
    result = capture(browser, url, hideSelectors=[".ad"], fullPage=False)
    assert pixel(result, 50, 50) == (255, 255, 255)


def test_mask_selectors_cover_elements(browser, site):
    url = site.add(
        "/mask",
        "<body style='margin:0'><div style='height:200px'></div>"
        "<div id='clock' style='width:80px;height:30px'>12:03:44</div></body>",
    )
    result = capture(browser, url, maskSelectors=["#clock"], fullPage=False)
    assert pixel(result, 40, 215) == (255, 0, 255)
    assert pixel(result, 40, 100) == (255, 255, 255)


def test_wait_for_selector(browser, site):
    url = site.add(
        "/late",
        "<body><script>setTimeout(() => { const d = document.createElement"
        "('div'); d.id = 'ready'; d.textContent = 'ok'; document.body.append(d); }, "
        "400);</script></body>",
    )
    capture(browser, url, waitForSelector="#ready")
    with pytest.raises(CaptureError, match="waitForSelector '#never'"):
        capture(browser, url, waitForSelector="#never", timeoutMs=2000)


def test_delay_ms_waits_before_the_screenshot(browser, site):
    url = site.add(
        "/delayed",
        "<body style='margin:0'><script>setTimeout(() => "
        "document.body.style.background = '#f00', 1500);</script></body>",
    )
    assert pixel(capture(browser, url, fullPage=False), 10, 10) == (255, 255, 255)
    assert pixel(capture(browser, url, fullPage=False, delayMs=2500), 10, 10) == (255, 0, 0)


def test_device_scale_factor(browser, site):
    url = site.add("/dpr", PLAIN)
    result = capture(
        browser,
        url,
        viewportSize={"width": 300, "height": 200},
        deviceScaleFactor=2,
        fullPage=False,
    )
    assert image(result).size == (600, 400)


def test_color_scheme(browser, site):
    url = site.add(
        "/scheme",
        "<style>body{background:#fff} @media (prefers-color-scheme: dark)"
        "{body{background:#000}}</style><body></body>",
    )
    assert pixel(capture(browser, url, colorScheme="dark", fullPage=False), 10, 10) == (0, 0, 0)
    assert pixel(capture(browser, url, fullPage=False), 10, 10) == (255, 255, 255)


def test_locale_and_timezone(browser, site):
    url = site.add(
        "/intl",
        "<body><script>document.title = navigator.language + '|' + "
        "Intl.DateTimeFormat().resolvedOptions().timeZone;"
        "fetch('/report?' + encodeURIComponent(document.title));</script></body>",
    )
    site.add("/report", "ok", content_type="text/plain")
    capture(browser, url, locale="fr-FR", timezoneId="Asia/Tokyo")
    assert any("fr-FR%7CAsia%2FTokyo" in r.path for r in site.requests)
    assert site.seen("/intl")[-1].headers["accept-language"].startswith("fr-FR")


def test_resource_timeout_does_not_block_the_capture(browser, site):
    url = site.add("/slowimg", PLAIN + "<img src='/slow.png'>")
    site.add("/slow.png", b"", content_type="image/png", delay=8)
    result = capture(browser, url, resourceTimeoutMs=500, timeoutMs=6000)
    assert result.png.startswith(b"\x89PNG")
    assert "not fired after 500 ms" in result.log or "timed out after 500 ms" in result.log


def test_server_error_fails_with_the_status(browser, site):
    url = site.add("/boom", "oops", status=500)
    with pytest.raises(CaptureError, match=r"answered HTTP 500") as info:
        capture(browser, url)
    assert "main document: HTTP 500" in info.value.log


def test_page_that_never_loads_fails_with_a_reason(browser, site):
    url = site.add("/never", PLAIN, delay=30)
    with pytest.raises(CaptureError, match="timed out after 2 s while loading the page"):
        capture(browser, url, timeoutMs=2000)


def test_page_that_never_settles_fails_with_a_reason(browser, site):
    url = site.add(
        "/busy",
        "<body><script>setInterval(() => fetch('/poll?' + Math.random()), 20);</script></body>",
    )
    site.add("/poll", "{}", content_type="application/json")
    with pytest.raises(CaptureError, match="page never settled within 2 s"):
        capture(browser, url, timeoutMs=2000)


def test_browser_recovers_after_a_hung_page(browser, site):
    url = site.add("/spin", PLAIN)
    with pytest.raises(CaptureError, match="timed out"):
        capture(browser, url, injectJs="while (true) {}", timeoutMs=2000)
    assert capture(browser, url).png.startswith(b"\x89PNG")


def test_captures_are_isolated_from_each_other(browser, site):
    """Cookies, localStorage and sessionStorage set by one capture are gone in the next."""
    url = site.add(
        "/state",
        "<body><script>"
        "const seen = [document.cookie, localStorage.getItem('k'),"
        " sessionStorage.getItem('s')].join('|');"
        "document.cookie = 'visited=1'; localStorage.setItem('k', 'v');"
        " sessionStorage.setItem('s', 't');"
        "fetch('/seen?' + encodeURIComponent(seen));</script></body>",
    )
    site.add("/seen", "ok", content_type="text/plain")
    capture(browser, url)
    capture(browser, url)
    seen = [r.path for r in site.seen_prefix("/seen")]
    assert seen == ["/seen?%7C%7C", "/seen?%7C%7C"]
    assert "cookie" not in site.seen("/state")[-1].headers


def test_storage_a_popup_wrote_on_another_origin_is_gone_in_the_next_capture(
    browser, site, other_site
):
    """The popup's origin is one the page itself never requested: its localStorage and
    IndexedDB are cleared all the same before the next capture of the partition."""
    writer = other_site.add(
        "/writer",
        "<body><script>localStorage.setItem('k', 'from-popup');"
        "const open = indexedDB.open('db', 1);"
        "open.onupgradeneeded = () => open.result.createObjectStore('s');"
        "open.onsuccess = () => { const tx = open.result.transaction('s', 'readwrite');"
        " tx.objectStore('s').put('v', 'key'); tx.oncomplete = () => fetch('/written'); };"
        "</script></body>",
    )
    other_site.add("/written", "ok", content_type="text/plain")
    opener = site.add(
        "/opener",
        f"<body><script>window.open('{writer}', '_blank');</script><p>opened a window</p></body>",
    )
    reader = other_site.add(
        "/reader",
        "<body><script>const dbs = indexedDB.databases ? indexedDB.databases() :"
        " Promise.resolve([]);"
        "dbs.then(list => fetch('/read?' + encodeURIComponent("
        "String(localStorage.getItem('k')) + '|' + list.map(d => d.name).join(','))));"
        "</script></body>",
    )
    other_site.add("/read", "ok", content_type="text/plain")
    capture(browser, opener, partition="popup-storage", delayMs=300)
    wait_for(lambda: other_site.seen("/written"), timeout=10, message="the popup's writes")
    capture(browser, reader, partition="popup-storage")
    wait_for(lambda: other_site.seen_prefix("/read?"), timeout=10, message="the reader")
    assert [r.path for r in other_site.seen_prefix("/read?")] == ["/read?null%7C"]


def _settled_pages(browser, partition):
    """Once the last capture's clean-up is done: the open pages of the partition's context,
    and the one it keeps for its next capture (None: that one opens a new page)."""
    engine = browser._engine

    async def cleaned_up():
        for pending in list(engine.pending_clean_up.values()):
            await pending

    browser._run(cleaned_up(), 30)
    [pooled] = [pooled for key, pooled in engine.contexts.items() if key[1] == partition]
    return list(pooled.context.pages), pooled.idle[0] if pooled.idle else None


def test_a_reused_page_keeps_nothing_of_the_capture_before(browser, site):
    """The next capture takes the same page, and finds no window.name, no history, no cookie
    and no localStorage of the one before, not even what its pagehide handler wrote."""
    url = site.add(
        "/reuse",
        "<body><script>"
        "const seen = [window.name, history.length, document.cookie,"
        " localStorage.getItem('k'), localStorage.getItem('late')].join('|');"
        "window.name = 'secret'; history.pushState({}, '', '#a'); history.pushState({}, '', '#b');"
        "document.cookie = 'visited=1'; localStorage.setItem('k', 'v');"
        "addEventListener('pagehide', () => { localStorage.setItem('late', '1');"
        " document.cookie = 'late=1'; });"
        "fetch('/reuse-seen?' + encodeURIComponent(seen));</script></body>",
    )
    site.add("/reuse-seen", "ok", content_type="text/plain")
    capture(browser, url, partition="reuse")
    pages, first = _settled_pages(browser, "reuse")
    assert first is not None and pages == [first]
    capture(browser, url, partition="reuse")
    seen = [r.path for r in site.seen_prefix("/reuse-seen")]
    # history.length 2 as on a new page (about:blank, then the page), not 4 (the two pushes).
    assert seen == ["/reuse-seen?%7C2%7C%7C%7C", "/reuse-seen?%7C2%7C%7C%7C"]
    assert "cookie" not in site.seen("/reuse")[-1].headers
    assert _settled_pages(browser, "reuse") == ([first], first), "the page was not reused"


def test_a_page_whose_session_storage_was_written_is_not_reused(browser, site):
    """sessionStorage lives with the page: one written (here only as the page unloads) means
    the next capture gets a new page, and sees nothing."""
    url = site.add(
        "/session",
        "<body><script>"
        "fetch('/session-seen?' + encodeURIComponent(String(sessionStorage.getItem('s'))));"
        "addEventListener('pagehide', () => sessionStorage.setItem('s', 'left'));"
        "</script></body>",
    )
    site.add("/session-seen", "ok", content_type="text/plain")
    capture(browser, url, partition="session")
    assert _settled_pages(browser, "session") == ([], None)
    capture(browser, url, partition="session")
    seen = [r.path for r in site.seen_prefix("/session-seen")]
    assert seen == ["/session-seen?null", "/session-seen?null"]


def test_a_release_shares_its_cache_and_a_new_release_fetches_afresh(browser, site):
    url = site.add("/cached", PLAIN + "<img src='/cacheable.png'>")
    site.add(
        "/cacheable.png", b"", content_type="image/png", headers={"Cache-Control": "max-age=3600"}
    )
    browser.capture(capture_config.parse({}).with_target(url), "build-1/release-1")
    browser.capture(capture_config.parse({}).with_target(url), "build-1/release-1")
    assert len(site.seen("/cacheable.png")) == 1  # one release: loaded once
    browser.capture(capture_config.parse({}).with_target(url), "build-1/release-2")
    assert len(site.seen("/cacheable.png")) == 2  # the next release: max-age notwithstanding


def test_captures_with_other_credentials_do_not_share_a_cache(browser, site):
    url = site.add("/private", PLAIN + "<img src='/avatar.png'>")
    site.add(
        "/avatar.png", b"", content_type="image/png", headers={"Cache-Control": "max-age=3600"}
    )
    for user in ("alice", "bob", "alice"):
        config = capture_config.parse({"cookies": [{"name": "user", "value": user}]})
        browser.capture(config.with_target(url), "build-1/release-3")
    # Alice's avatar came from the cache the second time; Bob's was never Alice's.
    assert [r.headers.get("cookie") for r in site.seen("/avatar.png")] == ["user=alice", "user=bob"]


def test_log_records_console_and_page_errors(browser, site):
    url = site.add(
        "/noisy",
        "<body><script>console.warn('deprecated API');"
        "setTimeout(() => { throw new Error('late failure'); }, 0);</script>"
        "<img src='/missing.png'></body>",
    )
    log = capture(browser, url).log
    assert "main document: HTTP 200" in log
    assert "console.warning: deprecated API" in log
    assert "page error: " in log and "late failure" in log
    assert "resource answered 404: " in log


def test_same_page_captured_five_times_is_identical(browser, site):
    url = site.add(
        "/stable",
        "<html><head><style>body{font-family:'DejaVu Sans';margin:24px}"
        ".spin{width:40px;height:40px;background:#36c;animation:spin 1s linear infinite}"
        "@keyframes spin{to{transform:rotate(360deg)}}"
        ".fade{transition:opacity 2s;opacity:.2}</style></head><body>"
        "<h1>Stable page</h1><p>Text with <b>bold</b> and <i>italic</i>.</p>"
        "<input value='focused' autofocus><div class='spin'></div>"
        "<div class='fade' id='f'>fading</div>"
        "<script>requestAnimationFrame(() => document.getElementById('f')"
        ".style.opacity = 1)</script></body></html>",
    )
    shots = [
        capture(browser, url, viewportSize={"width": 800, "height": 600}).png for _ in range(5)
    ]
    for shot in shots[1:]:
        assert core.compare(shots[0], shot, threshold=0.0, include_aa=True).changed_pixels == 0


def test_chromium_path_must_exist():
    with pytest.raises(FileNotFoundError, match="Chromium not found at /no/such/chromium"):
        Browser("/no/such/chromium")


def test_config_default_viewport_is_1280_wide(browser, site):
    url = site.add("/default", PLAIN)
    result = capture(browser, url)
    assert image(result).size == (1280, 1024)
    assert np.asarray(image(result)).shape == (1024, 1280, 4)


def test_crashed_tab_fails_with_a_reason_and_the_next_capture_works(site):
    import asyncio
    import threading
    import time

    browser = Browser()
    try:
        url = site.add("/crash", PLAIN + "<img src='/hang.png'>")
        site.add("/hang.png", b"", content_type="image/png", delay=10)
        outcome = {}

        def run():
            try:
                capture(browser, url, timeoutMs=20000)
            except CaptureError as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + 15
        while not site.seen("/hang.png") and time.monotonic() < deadline:
            time.sleep(0.05)

        async def crash_the_tab():
            # The page's URL is known to Playwright once its navigation event arrives, which
            # may be a moment after the server saw the image request.
            for _ in range(100):
                for pooled in browser._engine.contexts.values():
                    for page in pooled.context.pages:
                        if page.url == url:
                            session = await pooled.context.new_cdp_session(page)
                            # Page.crash never answers: the renderer is gone.
                            asyncio.ensure_future(session.send("Page.crash")).add_done_callback(
                                lambda task: task.cancelled() or task.exception()
                            )
                            return True
                await asyncio.sleep(0.05)
            return False

        assert browser._run(crash_the_tab(), 10)
        worker.join(timeout=30)
        assert "the page crashed" in outcome["error"].reason
        assert capture(browser, site.add("/after", PLAIN)).png.startswith(b"\x89PNG")
    finally:
        browser.close()


@pytest.mark.parametrize(
    "exc, kind, detail",
    [
        ("timeout", "timeout", "Timeout 3000ms exceeded."),
        ("asyncio", "timeout", "TimeoutError"),
        ("net", "network", "net::ERR_CONNECTION_REFUSED"),
        (
            "nav",
            "navigated",
            "Execution context was destroyed, most likely because of a navigation",
        ),
        ("closed", "closed", "Target page, context or browser has been closed"),
        ("other", "other", "boom"),
    ],
)
def test_playwright_errors_are_classified_in_one_place(exc, kind, detail):

    from playwright.async_api import Error
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    from capture.failures import classify

    made = {
        "timeout": PlaywrightTimeout("Timeout 3000ms exceeded.\n=== logs ==="),
        "asyncio": TimeoutError(),
        "net": Error("Page.goto: net::ERR_CONNECTION_REFUSED at http://127.0.0.1:9/\nCall log:"),
        "nav": Error("Execution context was destroyed, most likely because of a navigation"),
        "closed": Error("Target page, context or browser has been closed"),
        "other": ValueError("boom"),
    }[exc]
    failure = classify(made)
    assert (failure.kind, failure.detail) == (kind, detail)


def test_the_originals_cookie_and_selenium_keys_work_and_are_noted_in_the_log(browser, site):
    url = site.add("/legacy", PLAIN)
    result = capture(
        browser,
        url,
        cookies=[
            {
                "name": "sid",
                "value": "xyz",
                "expiry": 4102444800,
                "expires": "Fri, 01 Jan 2100 00:00:00 GMT",
            },
            {"name": "pref", "value": "dark", "expiry": 4102444800},
        ],
        command_executor="http://127.0.0.1:4444/wd/hub",
    )
    assert "sid=xyz" in site.seen("/legacy")[-1].headers["cookie"]
    assert "pref=dark" in site.seen("/legacy")[-1].headers["cookie"]
    assert "warning: command_executor is ignored" in result.log
    assert "warning: cookies[1].expiry read as expires" in result.log
