"""The layout map: the page's rendered elements, read when the page is ready for its screenshot.

Pixels say that something changed; the elements say what. For each rendered element (not
``display: none``, not inside such an element) the map records:

* where it is in the tree: its parent, its tag, id and classes, and its position among its
  parent's children of the same tag (``nth``), so that ``pdiff.layout`` can build a stable path;
* its border box in the screenshot's pixels (CSS pixels times ``deviceScaleFactor``, relative to
  ``clipRect`` when there is one; the page's ``maxHeight`` cut is recorded as the map's height);
* the computed values of the properties that paint (``PROPERTIES``), interned: elements point
  to a table of distinct value tuples, which keeps a page of 10,000 elements to a few hundred
  tuples;
* its own text (the text nodes directly inside it, whitespace collapsed; longer than
  ``TEXT_CHARS`` it is cut and a digest of the whole is appended) and its ``src``/``href``;
* flags: inside an open shadow root, host of a closed shadow root, matched by
  ``ignoreSelectors`` (or inside such an element).

Past ``DPXDT_LAYOUT_MAX_ELEMENTS`` elements the outermost are kept (whole levels of the tree,
then the first of the next level in document order) and the map says how many were left out.

The map is JSON (the format ``pdiff.layout`` reads; ``FORMAT``), compressed with gzip: the
capture stores the bytes as they are and never parses them. Reading it costs a few percent of
a capture (python3.11-doc's datetime.html, 9,582 elements: ~0.2 s against 3.8 s for its
screenshot; heapq.html, 838 elements: ~25 ms against 0.3 s).

No Django here: the local tool uses it too.
"""

from __future__ import annotations

from isal import igzip

FORMAT = 1
DEFAULT_MAX_ELEMENTS = 20_000
TEXT_CHARS = 300
CONTENT_TYPE = "application/gzip"
FILE_NAME = "layout.json.gz"

# The computed properties that paint, in the map's order. Borders, outline and text decoration
# are read as shorthands and recorded as "none" when they draw nothing (no width, no style, no
# line): their colour would otherwise follow ``color`` (currentColor) on every element.
PROPERTIES = (
    "display",
    "visibility",
    "opacity",
    "color",
    "background-color",
    "background-image",
    "border-top",
    "border-right",
    "border-bottom",
    "border-left",
    "border-radius",
    "outline",
    "box-shadow",
    "text-shadow",
    "font-family",
    "font-size",
    "font-weight",
    "font-style",
    "line-height",
    "letter-spacing",
    "text-transform",
    "text-decoration",
    "text-align",
    "padding",
    "margin",
    "transform",
    "filter",
    "fill",
    "stroke",
)

# Read on SVG elements only (an HTML element has a fill too, which paints nothing).
SVG_PROPERTIES = ("fill", "stroke")
LINE_PROPERTIES = ("border-top", "border-right", "border-bottom", "border-left", "outline")

# Runs in every page before its own scripts (a context's init script): remembers the hosts of
# closed shadow roots, which a page can otherwise hide from every script but its own, so that a
# change inside one is reported as what it is. Nothing of the page is modified.
INIT_SCRIPT = """(() => {
  const hosts = new WeakSet();
  const attach = Element.prototype.attachShadow;
  Object.defineProperty(window, Symbol.for('depicted.closedShadowHosts'), {value: hosts});
  Element.prototype.attachShadow = function (init) {
    const root = attach.call(this, init);
    if (init && init.mode === 'closed') hosts.add(this);
    return root;
  };
})()"""

# Runs in the page just before the screenshot, after _STABILISE (browser.py); returns the map
# as a JSON string (one string crosses the protocol far faster than a tree of objects).
SCRIPT = """({props, lines, svgProps, decoration, maxElements, scale, left, top, width,
   height, ignore, textChars}) => {
  const styleIndex = new Map(), styles = [], segmentIndex = new Map(), segments = [];
  const elements = [], depths = [];
  const sx = scrollX - left, sy = scrollY - top;
  const masks = new Set(window[Symbol.for('depicted.masks')] || []);
  const closedHosts = window[Symbol.for('depicted.closedShadowHosts')];
  const ignored = new Set();
  for (const selector of ignore) {
    for (const element of document.querySelectorAll(selector)) ignored.add(element);
  }
  const lineProps = new Set(lines), svgOnly = new Set(svgProps);
  const sides = new Set(lines.slice(0, 4));
  const INVISIBLE_LINE = /^0px | 0px$|^none | none |^hidden | hidden /;
  function digest(text) {  // cyrb53
    let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
    for (let i = 0, ch; i < text.length; i++) {
      ch = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
  }
  function cut(text) {
    return text.length > textChars ? text.slice(0, textChars) + '\u2026#' + digest(text) : text;
  }
  function sourceOf(element) {
    const tag = element.localName;
    if (tag === 'img' || tag === 'video' || tag === 'audio') {
      const poster = element.poster ? ' ' + element.poster : '';
      return (element.currentSrc || element.src || '') + poster;
    }
    if (tag === 'iframe' || tag === 'embed' || tag === 'source') return element.src || '';
    if (tag === 'object') return element.data || '';
    if (tag === 'image' || tag === 'use') return element.href && element.href.baseVal || '';
    if (tag === 'input' && element.type === 'image') return element.src || '';
    if (tag === 'a' || tag === 'area') return typeof element.href === 'string' ? element.href : '';
    return '';
  }
  const SVG = 'http://www.w3.org/2000/svg';
  const unread = props.map(() => '');
  function visit(element, parent, nth, depth, flags) {
    if (masks.has(element)) return;
    const style = getComputedStyle(element);
    if (style.display === 'none') return;
    const box = element.getBoundingClientRect();
    const x0 = Math.floor((box.left + sx) * scale), y0 = Math.floor((box.top + sy) * scale);
    const x1 = Math.ceil((box.right + sx) * scale), y1 = Math.ceil((box.bottom + sy) * scale);
    // Outside the screenshot nothing it paints is seen: its values are not read.
    const outside = y0 >= height || y1 <= 0 || x0 >= width || x1 <= 0;
    const svg = element.namespaceURI === SVG;
    const values = outside ? unread : [];
    // Most elements have no border: one read says so for the four sides.
    const borders = !outside && style.getPropertyValue('border-style') !== 'none';
    for (let i = 0; i < props.length && !outside; i++) {
      if (svgOnly.has(i) && !svg) {
        values.push('');
        continue;
      }
      if (sides.has(i) && !borders) {
        values.push('none');
        continue;
      }
      let value = style.getPropertyValue(props[i]);
      if (lineProps.has(i)) {  // a border or the outline
        if (INVISIBLE_LINE.test(value)) value = 'none';
      } else if (i === decoration && value.startsWith('none')) {  // no line drawn
        value = 'none';
      }
      if (value.length > 200) value = value.slice(0, 100) + '\u2026#' + digest(value);
      values.push(value);
    }
    const key = values.join('\u0001');
    let styleId = styleIndex.get(key);
    if (styleId === undefined) {
      styleId = styles.length;
      styleIndex.set(key, styleId);
      styles.push(values);
    }
    const classes = typeof element.className === 'string'
      ? element.className.trim().split(/\\s+/).filter(Boolean).join(' ')
      : (element.getAttribute('class') || '').trim().split(/\\s+/).filter(Boolean).join(' ');
    const segment = element.localName + '\u0001' + element.id + '\u0001' + classes;
    let segmentId = segmentIndex.get(segment);
    if (segmentId === undefined) {
      segmentId = segments.length;
      segmentIndex.set(segment, segmentId);
      segments.push([element.localName, element.id, classes]);
    }
    let text = '';
    for (let child = element.firstChild; child; child = child.nextSibling) {
      if (child.nodeType === 3) text += child.data;
    }
    text = text.replace(/\\s+/g, ' ').trim();
    if (ignored.has(element)) flags |= 4;
    let own = flags & 4;  // ignored-ness is inherited, the other flags are not
    if (closedHosts && closedHosts.has(element)) own |= 2;
    const index = elements.length;
    elements.push([parent, segmentId, nth, x0, y0, x1 - x0, y1 - y0, styleId, own | (flags & 1),
                   cut(text), cut(sourceOf(element))]);
    depths.push(depth);
    const counts = new Map();
    for (let child = element.firstElementChild; child; child = child.nextElementSibling) {
      const n = (counts.get(child.localName) || 0) + 1;
      counts.set(child.localName, n);
      visit(child, index, n, depth + 1, flags & 4);
    }
    if (element.shadowRoot) {
      const shadowCounts = new Map();
      for (let child = element.shadowRoot.firstElementChild; child;
           child = child.nextElementSibling) {
        const n = (shadowCounts.get(child.localName) || 0) + 1;
        shadowCounts.set(child.localName, n);
        visit(child, index, n, depth + 1, (flags & 4) | 1);
      }
    }
  }
  visit(document.documentElement, -1, 1, 0, 0);
  let kept = elements, dropped = 0;
  if (elements.length > maxElements) {
    // The outermost: whole levels of the tree, then the first of the next in document order.
    const perDepth = [];
    for (const depth of depths) perDepth[depth] = (perDepth[depth] || 0) + 1;
    let limit = 0, total = 0;
    while (limit < perDepth.length && total + perDepth[limit] <= maxElements) {
      total += perDepth[limit++];
    }
    let room = maxElements - total;
    const renumber = new Int32Array(elements.length).fill(-1);
    kept = [];
    for (let i = 0; i < elements.length; i++) {
      if (depths[i] < limit || (depths[i] === limit && room-- > 0)) {
        const element = elements[i];
        renumber[i] = kept.length;
        element[0] = element[0] < 0 ? -1 : renumber[element[0]];
        kept.push(element);
      }
    }
    dropped = elements.length - kept.length;
  }
  return JSON.stringify({format: %(format)d, width, height, scale, props, styles, segments,
                         elements: kept, viewport: [innerWidth, innerHeight], dropped});
}""".replace("%(format)d", str(FORMAT))


def script_arguments(
    *,
    scale: float,
    left: float,
    top: float,
    width: int,
    height: int,
    ignore: list[str],
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> dict:
    """The arguments of SCRIPT: the screenshot's origin in CSS pixels and its size in device
    pixels, the ``ignoreSelectors``, the element budget."""
    return {
        "props": list(PROPERTIES),
        "lines": [PROPERTIES.index(name) for name in LINE_PROPERTIES],
        "svgProps": [PROPERTIES.index(name) for name in SVG_PROPERTIES],
        "decoration": PROPERTIES.index("text-decoration"),
        "maxElements": max_elements,
        "scale": scale,
        "left": left,
        "top": top,
        "width": width,
        "height": height,
        "ignore": list(ignore),
        "textChars": TEXT_CHARS,
    }


def compress(text: str) -> bytes:
    """The map as stored: its JSON, gzip-compressed (ISA-L's fastest level: ~3 ms for the
    0.5 MB of datetime.html, 7 times smaller), with no time in its header: two loads of a page
    that lays out the same give the same bytes, so one artifact."""
    return igzip.compress(text.encode(), compresslevel=1, mtime=0)


def same_map(stored: bytes, other: bytes) -> bool:
    """Whether two stored maps hold the same JSON (whatever their gzip headers say: maps
    stored before ``compress`` wrote no time differ there). A map that cannot be decompressed
    is not the same as any."""
    if stored == other:
        return True
    try:
        return igzip.decompress(stored) == igzip.decompress(other)
    except (OSError, EOFError, ValueError):
        return False


def viewport_of(text: str) -> tuple[int, int]:
    """The viewport (CSS pixels) the page had when its map was read, from the JSON's tail."""
    tail = text[-80:]
    marker = '"viewport":['
    if marker not in tail:
        return (0, 0)
    width, height = tail.split(marker, 1)[1].split("]", 1)[0].split(",")
    return (int(float(width)), int(float(height)))


def dropped_count(text: str) -> int:
    """How many elements a map's JSON left out, read from its tail without parsing it."""
    tail = text[-40:]
    marker = '"dropped":'
    if marker not in tail:
        return 0
    return int(tail.split(marker, 1)[1].rstrip("}").strip() or 0)
