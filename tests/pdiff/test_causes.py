"""pdiff.causes and the layout side of pdiff.core: what two layout maps say changed, on maps
built by hand (the capture side is tests/capture/test_layout.py; end to end,
tests/e2e/test_causes.py)."""

import io
import json

import numpy as np
from PIL import Image

from capture import layout as capture_layout
from pdiff import causes, core, diffimage, realign
from pdiff.layout import LayoutMap
from tests.conftest import make_png

PROPS = list(capture_layout.PROPERTIES)
DEFAULTS = {prop: "none" for prop in PROPS} | {
    "display": "block",
    "visibility": "visible",
    "opacity": "1",
    "color": "rgb(0, 0, 0)",
    "background-color": "rgba(0, 0, 0, 0)",
    "font-family": "serif",
    "font-size": "16px",
    "font-weight": "400",
    "font-style": "normal",
    "line-height": "normal",
    "letter-spacing": "normal",
    "text-align": "start",
    "padding": "0px",
    "margin": "0px",
    "border-radius": "0px",
    "fill": "",
    "stroke": "",
}


class Page:
    """A layout map written by hand: ``add`` elements in document order."""

    def __init__(self, width=400, height=300):
        self.width, self.height = width, height
        self.rows = []

    def add(
        self, parent, tag, box=(0, 0, 10, 10), *, id="", cls="", text="", src="", flags=0, **style
    ):
        values = dict(DEFAULTS)
        if parent >= 0:  # inherited, as a browser computes them
            for prop in causes.INHERITED & set(PROPS):
                values[prop] = self.rows[parent]["style"][prop]
        values.update({key.replace("_", "-"): value for key, value in style.items()})
        siblings = [r for r in self.rows if r["parent"] == parent and r["tag"] == tag]
        self.rows.append(
            dict(
                parent=parent,
                tag=tag,
                id=id,
                cls=cls,
                box=box,
                style=values,
                text=text,
                src=src,
                flags=flags,
                nth=len(siblings) + 1,
            )
        )
        return len(self.rows) - 1

    def map(self) -> LayoutMap:
        styles, segments, elements = [], [], []
        for row in self.rows:
            values = [row["style"][prop] for prop in PROPS]
            if values not in styles:
                styles.append(values)
            segment = [row["tag"], row["id"], row["cls"]]
            if segment not in segments:
                segments.append(segment)
            elements.append(
                [
                    row["parent"],
                    segments.index(segment),
                    row["nth"],
                    *row["box"],
                    styles.index(values),
                    row["flags"],
                    row["text"],
                    row["src"],
                ]
            )
        data = {
            "format": 1,
            "width": self.width,
            "height": self.height,
            "scale": 1,
            "props": PROPS,
            "styles": styles,
            "segments": segments,
            "elements": elements,
            "dropped": 0,
        }
        return LayoutMap.parse(capture_layout.compress(json.dumps(data)))


def article(
    link="rgb(0, 114, 170)",
    *,
    body_color="rgb(0, 0, 0)",
    intro="Hello there",
    insert=None,
    pad="0px",
):
    page = Page()
    html = page.add(-1, "html", (0, 0, 400, 300))
    body = page.add(html, "body", (0, 0, 400, 300), color=body_color)
    if insert:
        page.add(body, "p", (0, 0, 400, 20), cls="banner", text=insert)
    y = 20 if insert else 0
    intro_p = page.add(body, "p", (0, y, 400, 20), cls="intro", text=intro)
    page.add(
        intro_p,
        "a",
        (100, y, 40, 20),
        text="more",
        src="/more",
        color=link,
        border_bottom=f"1px solid {link}",
    )
    page.add(body, "p", (0, y + 20, 400, 20), text="Second paragraph")
    dl = page.add(body, "dl", (0, y + 40, 400, 60))
    for n in range(2):
        page.add(dl, "dt", (0, y + 40 + 30 * n, 400, 20), text=f"term {n}", padding=pad)
    return page


def test_a_link_colour_is_one_cause_its_underline_in_current_colour_folded_in():
    diff = causes.find(article().map(), article(link="rgb(0, 102, 204)").map())
    [cause] = diff.causes
    assert cause.kind == "style" and cause.selector == "a" and cause.count == 1
    assert cause.changes == (causes.Change("color", "rgb(0, 114, 170)", "rgb(0, 102, 204)"),)
    assert cause.line() == "`a`: color #0072aa → #0066cc"
    assert cause.label() == "`a`: color #0072aa → #0066cc"


def test_an_inherited_change_is_the_parents_cause_alone():
    diff = causes.find(article().map(), article(body_color="rgb(40, 40, 40)").map())
    [cause] = diff.causes  # not one per paragraph that inherits it
    assert cause.selector == "body" and cause.count == 1
    assert cause.changes == (causes.Change("color", "rgb(0, 0, 0)", "rgb(40, 40, 40)"),)


def test_padding_is_told_side_by_side():
    diff = causes.find(article().map(), article(pad="4px 0px 0px").map())
    [cause] = diff.causes
    assert cause.line() == "`dt` ×2: padding-top 0px → 4px"


def test_an_element_inserted_before_its_siblings_is_added_not_each_sibling_changed():
    diff = causes.find(article().map(), article(insert="Sale today").map())
    [cause] = diff.causes
    assert cause.kind == "added" and cause.selector == "p.banner"
    assert cause.line() == "`p.banner` added (400×20 px at y=0)"
    assert diff.moves  # what moved below it: offsets for the alignment, not causes


def test_a_text_change_shows_the_words_around_it():
    diff = causes.find(article().map(), article(intro="Hello here").map())
    [cause] = diff.causes
    assert cause.kind == "text" and cause.selector == "p.intro"
    assert cause.line() == "`p.intro`: text “Hello there” → “Hello here”"
    long_before = "word " * 30 + "quick brown fox" + " word" * 30
    before, after = causes.text_change(long_before, long_before.replace("quick", "slow"))
    assert before.startswith("…") and before.endswith("…") and "quick brown" in before
    assert "slow brown" in after and len(after) < 60


def test_content_moved_under_a_new_wrapper_is_the_same_content():
    old, new = Page(), Page()
    for page, wrapped in ((old, False), (new, True)):
        html = page.add(-1, "html", (0, 0, 400, 300))
        body = page.add(html, "body", (0, 0, 400, 300))
        parent = page.add(body, "div", (0, 0, 400, 100), cls="wrapper") if wrapped else body
        page.add(parent, "p", (0, 0, 400, 20), text="One")
        page.add(parent, "p", (0, 20, 400, 20), text="Two")
    diff = causes.find(old.map(), new.map())
    [cause] = diff.causes  # the wrapper; the paragraphs inside it are the old ones
    assert cause.kind == "added" and cause.selector == "div"  # the only div: enough to find it


def test_a_size_change_is_a_cause_only_where_nothing_explains_it():
    def page(image_height, text="Caption"):
        page = Page()
        html = page.add(-1, "html", (0, 0, 400, 300))
        body = page.add(html, "body", (0, 0, 400, 300))
        figure = page.add(body, "figure", (0, 0, 400, 40 + image_height))
        page.add(figure, "img", (0, 0, 100, image_height), src="/chart.png")
        page.add(figure, "figcaption", (0, image_height, 400, 40), text=text)
        return page.map()

    # The image's file changed its height under one URL: the image is the cause, and the
    # figure it grew is not.
    [cause] = causes.find(page(50), page(80)).causes
    assert cause.kind == "size" and cause.selector == "img"
    assert cause.line() == "`img`: size 100×50 → 100×80 px"
    # The caption's text changed too: the figure grew because of it or the image; the image's
    # own growth is still unexplained by anything inside or above it.
    kinds = sorted(c.kind for c in causes.find(page(50), page(80, "New caption")).causes)
    assert kinds == ["size", "text"]


def test_ignored_elements_give_no_cause_and_their_boxes_both_sides_are_left_out():
    def page(clock, flags):
        page = Page()
        html = page.add(-1, "html", (0, 0, 400, 300))
        body = page.add(html, "body", (0, 0, 400, 300))
        page.add(
            body,
            "span",
            (10, 10 if clock == "10:00" else 50, 40, 20),
            cls="clock",
            text=clock,
            flags=flags,
        )
        return page.map()

    diff = causes.find(page("10:00", 0), page("11:00", 4))  # marked in the new capture only
    assert diff.causes == []
    assert sorted(diff.ignore_boxes) == [(10, 10, 40, 20), (10, 50, 40, 20)]


def test_what_differs_between_two_loads_of_the_page_is_noise():
    def page(box_colour, link):
        page = article(link=link)
        page.add(1, "div", (0, 200, 100, 40), id="rand", background_color=box_colour)
        return page.map()

    before = page("rgb(1, 2, 3)", "rgb(0, 114, 170)")
    after, again = (
        page("rgb(9, 9, 9)", "rgb(0, 102, 204)"),
        page("rgb(7, 7, 7)", "rgb(0, 102, 204)"),
    )
    diff = causes.find(before, after)
    assert sorted(c.selector for c in diff.causes) == ["#rand", "a"]
    clean = causes.without_noise(diff, causes.noise_between(after, again))
    assert [c.selector for c in clean.causes] == ["a"]
    assert [c.selector for c in clean.noise] == ["#rand"]
    assert (0, 200, 100, 40) in clean.ignore_boxes


def test_the_same_causes_on_two_pages_have_one_key_whatever_the_count_or_classes():
    one = causes.find(article().map(), article(link="rgb(0, 102, 204)").map()).causes
    other_page = article(link="rgb(0, 102, 204)")
    other_page.add(1, "a", (0, 250, 30, 20), cls="external", text="x", color="rgb(0, 102, 204)")
    other_base = article()
    other_base.add(1, "a", (0, 250, 30, 20), cls="external", text="x", color="rgb(0, 114, 170)")
    two = causes.find(other_base.map(), other_page.map()).causes
    assert [c.count for c in two] == [2] and two[0].selector == "a"
    assert causes.cause_set_key(one) == causes.cause_set_key(two) != ""
    words = causes.find(article().map(), article(intro="Bye").map()).causes
    assert causes.cause_set_key(words + one) not in ("", causes.cause_set_key(one))
    pixels = [causes.pixel_cause(None, (0, 0, 10, 10), 100)]
    assert causes.cause_set_key(one + pixels) == ""  # pixels alone: reviewed on its own


def test_pixels_no_element_explains_are_named_by_what_is_drawn_there():
    page = Page()
    html = page.add(-1, "html", (0, 0, 400, 300))
    body = page.add(html, "body", (0, 0, 400, 300))
    page.add(body, "canvas", (10, 10, 100, 50), id="chart")
    page.add(body, "iframe", (10, 100, 100, 50), src="https://maps.example/")
    host = page.add(body, "x-card", (200, 10, 100, 50), flags=2)
    page.add(host, "b", (200, 10, 10, 10), flags=1)
    page.add(body, "img", (200, 100, 100, 50), src="/photo.jpg")
    page.add(body, "p", (0, 200, 400, 20), cls="text", text="Words")
    layout = page.map()
    lines = [
        causes.pixel_cause(layout, box, 99).line()
        for box in [
            (20, 20, 10, 10),
            (20, 110, 10, 10),
            (205, 12, 4, 4),
            (210, 110, 10, 10),
            (5, 205, 10, 10),
        ]
    ]
    assert lines == [
        "canvas `#chart` changed at x=20, y=20 (10×10 px)",
        "frame `iframe` changed at x=20, y=110 (10×10 px)",
        "closed shadow root of `x-card` changed at x=205, y=12 (4×4 px)",
        "image `img` changed at x=210, y=110 (10×10 px) (same src)",
        "pixels changed at x=5, y=205 (10×10 px) in `p`",
    ]


def test_a_summary_is_three_lines_at_most_then_how_many_more():
    many = [
        causes.Cause("text", f"p:nth-of-type({n})", ("p",), (causes.Change("text", "a", "b"),))
        for n in range(5)
    ]
    lines = causes.summary_lines(many, height_change=(300, 320))
    assert lines[0].endswith("; page 20 px taller") and lines[3] == "and 2 more causes"
    assert len(lines) == 4


def test_selectors_are_the_shortest_unique_or_the_shared_one():
    page = Page()
    html = page.add(-1, "html", (0, 0, 400, 300))
    body = page.add(html, "body", (0, 0, 400, 300))
    first = page.add(body, "ul", (0, 0, 400, 100), cls="menu")
    second = page.add(body, "ul", (0, 100, 400, 100), cls="menu")
    items = [
        page.add(ul, "li", (0, 0, 10, 10), cls="item") for ul in (first, second) for _ in range(2)
    ]
    page.add(body, "div", (0, 0, 1, 1), id="2col")
    layout = page.map()
    assert causes.selector_for(layout, [layout.elements[items[1]]]) == (
        "body > ul.menu:nth-of-type(1) > li.item:nth-of-type(2)"
    )
    assert causes.selector_for(layout, [layout.elements[i] for i in items]) == "li.item"
    assert causes.selector_for(layout, [layout.elements[-1]]) == "#\\32 col"
    assert causes.colours("1px solid rgb(0, 114, 170)") == "1px solid #0072aa"
    assert causes.colours("rgba(0, 0, 0, 0.5)") == "rgba(0, 0, 0, 0.5)"


# --- the verdict: layout maps and pixels together (pdiff.core) ----------------------------------


def shot(link):
    """An article screenshot: the link a shade of blue (a square of it, under the subtle
    regions' smallest area), the rest white."""
    return make_png(400, 300, squares=[(100, 0, 10, (*link, 255))])


def test_a_cause_under_the_colour_threshold_makes_the_pair_changed():
    old, new = (0, 114, 170), (0, 102, 204)
    result = core.compare(
        shot(old),
        shot(new),
        before_layout=article().map(),
        after_layout=article(link="rgb(0, 102, 204)").map(),
    )
    assert result.changed_pixels == 0  # every pixel under the threshold
    assert [c.selector for c in result.causes] == ["a"] and result.causes[0].pixels == 100
    assert not result.within(0) and result.differs
    assert result.summary == "`a`: color #0072aa → #0066cc"
    diff = np.asarray(Image.open(io.BytesIO(result.diff_png)).convert("RGB"))
    assert tuple(diff[5, 105]) == diffimage.SOFT_RGB  # the cause's pixels, orange
    # Without maps, the same pixels are the old verdict: nothing counted.
    assert core.compare(shot(old), shot(new)).within(0)


def test_identical_screenshots_stay_unchanged_whatever_the_maps_say():
    same = shot((0, 114, 170))
    result = core.compare(
        same,
        same,
        before_layout=article().map(),
        after_layout=article(link="rgb(0, 102, 204)").map(),
    )
    assert result.identical_bytes and result.within(0) and result.causes == []


def test_a_cause_the_screenshots_do_not_show_is_not_one():
    # The map says the link changed colour, but no pixel of its box did (it is covered):
    # the one changed pixel elsewhere is judged by the threshold, as pixels always were.
    before = make_png(400, 300, squares=[(300, 200, 2, (0, 0, 0, 255))])
    after = make_png(400, 300, squares=[(300, 200, 2, (255, 0, 0, 255))])
    result = core.compare(
        before,
        after,
        before_layout=article().map(),
        after_layout=article(link="rgb(0, 102, 204)").map(),
    )
    assert [c.kind for c in result.causes] == ["pixels"]
    assert result.unexplained_pixels == 4
    assert not result.within(0) and result.within(0.001)


def test_a_map_that_cannot_be_read_leaves_the_pixel_verdict():
    result = core.compare(
        shot((0, 0, 0)), shot((9, 9, 9)), before_layout=b"junk", after_layout=article().map()
    )
    assert not result.has_layout and result.layout_note.startswith("layout maps not used")


def test_what_inherited_a_change_is_part_of_its_cause_however_many_elements():
    """Sixty links recoloured over the threshold, each holding a code element that sticks out
    of its line box and inherits the colour: every changed pixel is the one cause's, none is
    left unexplained (not just the first boxes a cause lists)."""

    def page(colour):
        page = Page(400, 700)
        html = page.add(-1, "html", (0, 0, 400, 700))
        body = page.add(html, "body", (0, 0, 400, 700))
        for n in range(60):
            link = page.add(body, "a", (100, 10 * n + 2, 40, 6), src=f"/{n}", color=colour)
            page.add(link, "code", (98, 10 * n, 44, 10), text=f"x{n}")
        return page.map()

    def shot(colour):
        return make_png(400, 700, squares=[(98, 10 * n, 10, (*colour, 255)) for n in range(60)])

    result = core.compare(
        shot((0, 114, 170)),
        shot((176, 0, 32)),
        before_layout=page("rgb(0, 114, 170)"),
        after_layout=page("rgb(176, 0, 32)"),
    )
    assert result.changed_pixels == 60 * 100
    [cause] = result.causes
    assert cause.selector == "a" and cause.count == 60
    assert result.unexplained_pixels == 0
    assert len(cause.as_dict()["boxes"]) == causes.MAX_BOXES  # what is stored is trimmed


def test_what_a_page_wrote_is_printed_without_its_control_characters():
    before = article(intro="Hello there").map()
    after = article(intro="Hello \x1b]0;owned\x07 \u202egnirts").map()
    [cause] = causes.find(before, after).causes
    assert "\x1b" not in cause.line() and "\u202e" not in cause.line()
    assert "\ufffd]0;owned\ufffd" in cause.line() and "\ufffdgnirts" in cause.label()


def reflowed(pre_changed=False):
    """A paragraph whose letter-spacing changed (it reflowed and grew 20 px: noise of other
    words) above a code block that only moved down those 20 px, unless ``pre_changed``."""
    rng = np.random.default_rng(3)
    pictures = []
    code = np.zeros((40, 400, 4), dtype=np.uint8)
    code[..., 3] = 255
    code[:, :, 2] = np.arange(40, dtype=np.uint8)[:, None] * 6  # a distinct colour per row
    for height in (100, 120):
        image = np.full((300, 400, 4), 255, dtype=np.uint8)
        image[:height] = rng.integers(0, 256, size=(height, 400, 4), dtype=np.uint8)
        image[:height, :, 3] = 255
        image[height : height + 40] = code
        if pre_changed and height == 120:
            image[130:134, 50:60] = (255, 0, 0, 255)
        out = io.BytesIO()
        Image.fromarray(image).save(out, format="PNG")
        pictures.append(out.getvalue())
    maps = []
    for height, spacing in ((100, "normal"), (120, "0.6px")):
        page = Page()
        html = page.add(-1, "html", (0, 0, 400, 300))
        body = page.add(html, "body", (0, 0, 400, 300))
        page.add(body, "p", (0, 0, 400, height), text="words", letter_spacing=spacing)
        page.add(body, "pre", (0, height, 400, 40), text="code")
        maps.append(page.map())
    return pictures, maps


def test_when_the_causes_hold_most_of_the_change_what_only_moved_is_explained_in_place(
    monkeypatch,
):
    """No aligned pass (it would line up rows only to show the reflowed paragraph again): the
    code block that moved is explained where the new screenshot shows what the old one showed
    20 px higher, and only there."""

    def no_aligned_pass(*args, **kwargs):
        raise AssertionError("the aligned pass was made")

    monkeypatch.setattr(realign, "aligned_pass", no_aligned_pass)
    (before, after), (old, new) = reflowed()
    result = core.compare(before, after, before_layout=old, after_layout=new)
    assert [cause.kind for cause in result.causes] == ["style"]
    assert result.causes[0].changes[0].prop == "letter-spacing"
    assert result.unexplained_pixels == 0 and result.changed_pixels > 40_000
    # Without the maps' moves, the block's rows would be changed pixels no cause explains.
    unmoved = core.compare(
        before, after, before_layout=old, after_layout=new, align=False
    ).unexplained_pixels
    assert unmoved is not None and unmoved > 1000

    (before, after), (old, new) = reflowed(pre_changed=True)
    result = core.compare(before, after, before_layout=old, after_layout=new)
    assert result.unexplained_pixels == 40  # the red mark in the block, and nothing else
    assert [cause.kind for cause in result.causes] == ["style", "pixels"]
