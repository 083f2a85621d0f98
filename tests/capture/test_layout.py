"""The layout map a capture records, read back (pdiff.layout): real Chromium, pages on 127.0.0.1."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from capture import config as capture_config
from capture import layout as layouts
from capture.browser import Browser
from pdiff.layout import LayoutError, LayoutMap

pytestmark = pytest.mark.e2e

PAGE = """<html><head><style>
body { margin: 0; font-family: 'DejaVu Sans'; background: #fff }
#hero { height: 100px; background: rgb(10, 20, 30); margin: 10px 20px }
a.more { color: rgb(0, 114, 170); border-bottom: 1px solid currentColor }
.ticker { position: absolute; left: 0; top: 1500px }
.gone { display: none }
</style></head><body>
<div id="hero"><p class="intro">Hello <a class="more" href="/more">more</a></p></div>
<p class="ticker">Ticker <b>now</b></p>
<div class="gone"><p>never rendered</p></div>
<img src="/missing.png" width="50" height="20">
<x-card></x-card>
<script>
customElements.define('x-card', class extends HTMLElement {
  constructor() { super(); const root = this.attachShadow({mode: 'closed'});
    root.innerHTML = '<b style="display:block;width:30px;height:10px;background:red"></b>'; }
});
</script>
</body></html>"""


@pytest.fixture(scope="module")
def browser():
    browser = Browser()
    yield browser
    browser.close()


def capture(browser, url, **config):
    return browser.capture(capture_config.parse(config).with_target(url))


def find(layout, tag, cls=None, id_=None):
    return [
        e
        for e in layout.elements
        if e.tag == tag and (cls is None or cls in e.classes) and (id_ is None or e.id == id_)
    ]


def test_a_capture_records_its_elements_boxes_painted_values_and_text(browser, site):
    url = site.add("/p", PAGE)
    result = capture(browser, url, viewportSize={"width": 400, "height": 300}, fullPage=False)
    assert result.layout[:2] == b"\x1f\x8b"  # stored compressed
    layout = LayoutMap.parse(result.layout)
    assert (layout.width, layout.height, layout.scale) == (400, 300, 1)
    [hero] = find(layout, "div", id_="hero")
    assert hero.box == (20, 10, 360, 100)
    assert layout.value(hero, "background-color") == "rgb(10, 20, 30)"
    assert hero.path == "html:1/body:1/div#hero:1"
    [intro] = find(layout, "p", "intro")
    assert intro.text == "Hello" and intro.path == "html:1/body:1/div#hero:1/p.intro:1"
    [more] = find(layout, "a", "more")
    assert more.text == "more" and more.src == f"{site.url}/more"
    assert layout.value(more, "color") == "rgb(0, 114, 170)"
    assert layout.value(more, "border-bottom") == "1px solid rgb(0, 114, 170)"
    assert layout.value(more, "border-top") == "none"  # draws nothing: not its colour
    assert layout.value(intro, "border-bottom") == "none"
    assert not find(layout, "div", "gone")  # display: none, and what is inside it
    [ticker] = find(layout, "p", "ticker")
    assert ticker.y >= 1500 and not layout.in_screenshot(ticker)
    assert layout.value(ticker, "color") == ""  # outside the screenshot: not read
    [card] = find(layout, "x-card")
    assert card.flags & 2  # the host of a closed shadow root
    assert "layout map" in result.log


def test_boxes_are_in_the_screenshots_pixels_scale_and_clip(browser, site):
    url = site.add("/p", PAGE)
    scaled = LayoutMap.parse(
        capture(
            browser,
            url,
            viewportSize={"width": 400, "height": 300},
            fullPage=False,
            deviceScaleFactor=2,
        ).layout
    )
    assert (scaled.width, scaled.height, scaled.scale) == (800, 600, 2)
    assert find(scaled, "div", id_="hero")[0].box == (40, 20, 720, 200)
    clipped = capture(browser, url, clipRect={"left": 10, "top": 5, "width": 200, "height": 100})
    layout = LayoutMap.parse(clipped.layout)
    assert Image.open(io.BytesIO(clipped.png)).size == (layout.width, layout.height) == (200, 100)
    assert find(layout, "div", id_="hero")[0].box[:2] == (10, 5)


def test_a_full_page_cut_at_max_height_is_the_maps_height(browser, site):
    url = site.add("/tall", "<body style='margin:0'><div style='height:4000px'></div></body>")
    result = capture(browser, url, viewportSize={"width": 300, "height": 200}, maxHeight=1000)
    layout = LayoutMap.parse(result.layout)
    assert Image.open(io.BytesIO(result.png)).size == (300, 1000)
    assert (layout.width, layout.height) == (300, 1000)


def test_ignore_selectors_mark_elements_and_what_is_inside_them(browser, site):
    url = site.add("/p", PAGE)
    result = capture(browser, url, ignoreSelectors=["#hero"], fullPage=False)
    layout = LayoutMap.parse(result.layout)
    assert find(layout, "div", id_="hero")[0].ignored
    assert find(layout, "a", "more")[0].ignored  # inside it
    assert not find(layout, "p", "ticker")[0].ignored
    # Unlike hideSelectors and maskSelectors, the screenshot still shows them.
    pixels = np.asarray(Image.open(io.BytesIO(result.png)).convert("RGB"))
    assert tuple(pixels[50, 200]) == (10, 20, 30)


def test_masks_are_not_elements_of_the_page(browser, site):
    url = site.add("/p", PAGE)
    layout = LayoutMap.parse(capture(browser, url, maskSelectors=["#hero"], fullPage=False).layout)
    assert [e.tag for e in layout.elements if e.parent == 0] == ["body"]


def test_past_the_element_budget_the_outermost_are_kept_and_the_log_says_so(site):
    rows = "".join(f"<div><p>row {n} <b>bold</b> <i>it</i></p></div>" for n in range(300))
    url = site.add("/many", f"<html><body>{rows}</body></html>")
    browser = Browser(layout_max_elements=700)
    try:
        result = browser.capture(capture_config.parse({}).with_target(url))
    finally:
        browser.close()
    layout = LayoutMap.parse(result.layout)
    assert len(layout) == 700 and layout.dropped == 2 + 300 * 4 - 700
    # Whole levels: html, body, the 300 divs, their 300 p; then the first 98 of the next level.
    assert sum(1 for e in layout.elements if e.tag in ("div", "p")) == 600
    assert [e.depth for e in layout.elements if e.tag in ("b", "i")] == [4] * 98
    assert layout.elements[-1].parent >= 0  # every kept element's parent was kept
    assert "elements left out (over 700, DPXDT_LAYOUT_MAX_ELEMENTS" in result.log


def test_the_layout_map_can_be_turned_off_or_taken_alone(browser, site):
    url = site.add("/p", PAGE)
    off = capture(browser, url, layoutMap=False)
    assert off.layout is None and off.png
    alone = browser.capture(capture_config.parse({}).with_target(url), layout_only=True)
    assert alone.png == b"" and LayoutMap.parse(alone.layout).elements


def test_a_map_that_cannot_be_read_is_an_error_naming_why():
    with pytest.raises(LayoutError, match="not JSON"):
        LayoutMap.parse(b"<html>")
    with pytest.raises(LayoutError, match="cannot be decompressed"):
        LayoutMap.parse(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(LayoutError, match="format"):
        LayoutMap.parse(layouts.compress(json.dumps({"format": 99})))
    with pytest.raises(LayoutError, match="malformed"):
        LayoutMap.parse(
            layouts.compress(
                json.dumps(
                    {"format": 1, "width": 1, "height": 1, "scale": 1, "props": [], "styles": []}
                )
            )
        )


def test_invalid_ignore_selectors_are_refused_naming_the_selector():
    with pytest.raises(capture_config.ConfigError, match="ignoreSelectors: 'a\\[' is not a valid"):
        capture_config.parse({"ignoreSelectors": ["a["]})
    assert capture_config.parse({"ignoreSelectors": ["#clock", "div.ad > img"]})
