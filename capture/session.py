"""One capture of one page (``CaptureSession``), in named steps: prepare, navigate, wait,
inject, stabilise, frame, shoot, record (the layout map), then clean up so that nothing it set
is seen by the next capture on the same page. No Django here.

Tall pages are taken in stripes of at most STRIPE_PIXELS device pixels and stitched, and cut at
the config's ``maxHeight`` and the ``max_pixels`` budget, so every capture can be diffed.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import re
import time

from . import layout as layouts
from . import png as pngs
from .config import CaptureConfig, compile_regex
from .failures import CaptureError, Failure, classify, first_line, refusal
from .netpolicy import host_port
from .watch import STORAGE_WRITES, PageWatch

logger = logging.getLogger(__name__)

MASK_COLOR = "#FF00FF"
# The tallest stripe taken in one screenshot, in device pixels. Each screenshot call resizes the
# view to the whole page and lays it out again (about 0.8 s for python3.11-doc's stdtypes, the
# same for a stripe of 1,024 rows as of 32,768), so a page costs one call up to maxHeight's
# default; a single shot of 32,768 rows comes back complete, also under load (tested).
STRIPE_PIXELS = 32768
# How long the network must be quiet before a page counts as settled.
QUIET_MS = {"load": 50, "networkidle": 500}


class CaptureLog:
    """The capture log: what a person needs to see why a page looks the way it does."""

    def __init__(self):
        self.started = time.monotonic()
        self.lines: list[str] = []

    def add(self, message: str):
        self.lines.append(f"{(time.monotonic() - self.started) * 1000:7.0f} ms  {message}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def stripe_height(scale: float) -> int:
    """The tallest stripe, in CSS pixels, that is at most STRIPE_PIXELS device pixels and a
    whole number of them at this scale, so stripes meet without a seam (at 1.25: 13104)."""
    top = max(1, int(STRIPE_PIXELS // scale))
    for height in range(top, max(0, top - 1000), -1):
        if abs(height * scale - round(height * scale)) < 1e-6:
            return height
    return top


@dataclasses.dataclass(frozen=True)
class Frame:
    """What one capture's screenshot takes."""

    params: dict  # Page.captureScreenshot's
    shot: tuple[int, int, int, int]  # left, top, width, height in CSS pixels
    scale: float
    stripe: int = 0  # a full page: taken in stripes this tall (CSS pixels)


class CaptureSession(PageWatch):
    """One capture of one page."""

    def __init__(
        self,
        page,
        cdp,
        pooled,
        config,
        log,
        deadline,
        max_pixels,
        *,
        layout_max_elements=layouts.DEFAULT_MAX_ELEMENTS,
        layout_only=False,
    ):
        super().__init__(page, cdp, pooled, log)
        self.layout_max_elements = layout_max_elements
        self.layout_only = layout_only
        self.layout: bytes | None = None
        self.max_pixels = max_pixels
        self.config: CaptureConfig = config
        self.url: str = config.targetUrl or ""
        self.deadline = deadline
        self.http_status = None
        self.stage = "starting"
        # RE2: matching is linear in the URL whatever the pattern, so no config can stall
        # this loop (a Python regex like (a+)+b against a long URL takes minutes).
        self.blocked = [compile_regex(p) for p in config.resourcesToIgnore]
        self.headers = [(compile_regex(p), h) for p, h in config.injectHeaders.items()]

    def remaining_ms(self) -> float:
        return max(1.0, (self.deadline - time.monotonic()) * 1000)

    def timeout_reason(self, timeout: float) -> str:
        if self.stage == "settling" and self.in_flight:
            urls = ", ".join(sorted(req.url for req in self.in_flight)[:3])
            return (
                f"page never settled within {timeout:.0f} s: {len(self.in_flight)} requests "
                f"still loading ({urls})"
            )
        return f"capture timed out after {timeout:.0f} s while {self.stage}"

    # --- the capture, step by step -----------------------------------------------------------
    async def run(self) -> bytes:
        """The screenshot (PNG bytes; empty for the layout map alone, ``self.layout``)."""
        await self.prepare()
        await self.navigate()
        await self.wait()
        await self.inject()
        width, height = await self.stabilise()
        frame = self.frame(width, height)
        if self.layout_only:
            self.stage = "reading the layout map"
            self.layout, _ = await self.read_layout(frame.shot, frame.scale)
            return b""
        return await self.shoot(frame)

    async def prepare(self):
        """Listen to the page, set its viewport, routes and cookies."""
        page, config = self.page, self.config
        for event, handler in self.listeners:
            page.on(event, handler)
        self.context.on("request", self._on_context_request)
        for event in STORAGE_WRITES:
            self.cdp.on(event, self._on_storage_write)
        if page.viewport_size != config.viewportSize:
            await page.set_viewport_size(config.viewportSize)
        if self.blocked or self.headers:
            await page.route("**/*", self._route)
            self.routed = True
        if config.cookies:
            try:
                await self.context.add_cookies([_cookie(c, self.url) for c in config.cookies])
            except Exception as exc:
                if classify(exc).kind != Failure.OTHER:
                    raise
                reason = f"the browser refused the cookies: {refusal(exc)}"
                raise CaptureError(reason, permanent=True) from None
        # A page that is not the foreground one gets no frames: the screenshot then waits
        # ~2 s for one and may miss tiles.
        await self.cdp.send("Page.bringToFront")

    async def navigate(self):
        """Open the page; a refusal by the network policy or an HTTP error ends the capture."""
        url, viewport = self.url, self.config.viewportSize
        self.stage = "loading the page"
        self.log.add(f"open {url} (viewport {viewport['width']}x{viewport['height']})")
        started = time.monotonic()
        try:
            response = await self.page.goto(url, wait_until="commit", timeout=self.remaining_ms())
        except Exception:
            refused = self.refused_navigation(url, redirected=True)
            if refused:
                raise CaptureError(refused) from None
            raise
        if response is not None and response.status in (403, 502):
            # The proxy's refusal of a redirect's target may come back as the page's answer.
            moved = host_port(response.url) != host_port(url)
            refused = self.refused_navigation(url, redirected=moved)
            if refused:
                raise CaptureError(refused)
        if response is not None:
            self.http_status = response.status
            self.log.add(
                f"main document: HTTP {response.status} "
                f"{response.headers.get('content-type', '')}".rstrip()
            )
            if response.status >= 400:
                raise CaptureError(f"{url} answered HTTP {response.status}")
        await self.wait_for_page()
        self.log.add(f"page ready after {(time.monotonic() - started) * 1000:.0f} ms")

    async def wait(self):
        """The config's ``waitForSelector``: a visible match, or the capture fails."""
        selector = self.config.waitForSelector
        if not selector:
            return
        self.stage = f"waiting for {selector}"
        try:
            await self.page.wait_for_selector(
                selector, state="visible", timeout=self.remaining_ms()
            )
        except Exception as exc:
            if "while parsing" in str(exc):  # a selector the browser cannot parse
                reason = (
                    f"waitForSelector {selector!r}: the browser cannot parse it ({refusal(exc)})"
                )
                raise CaptureError(reason, permanent=True) from None
            raise CaptureError(
                f"waitForSelector {selector!r}: no visible match ({first_line(exc)})"
            ) from None

    async def inject(self):
        """The config's CSS (``injectCss``, ``hideSelectors``), script and delay."""
        config, page = self.config, self.page
        css = config.injectCss or ""
        if config.hideSelectors:
            css += "\n" + ", ".join(config.hideSelectors) + " { visibility: hidden !important; }"
        if css.strip():
            await page.add_style_tag(content=css)
            self.log.add("injected CSS")
        if config.injectJs:
            self.stage = "running injectJs"
            try:
                await page.evaluate("(source) => { (0, eval)(source); }", config.injectJs)
            except Exception as exc:
                if classify(exc).kind != Failure.NAVIGATED:  # it navigated: fine
                    message = re.sub(r"^Page\.evaluate: (Error: )?", "", first_line(exc))
                    raise CaptureError(f"injectJs threw: {message}") from None
            self.log.add("ran injectJs")
            await asyncio.sleep(0.1)  # a click's navigation starts asynchronously
            await self.wait_for_page()
        if config.delayMs:
            self.stage = "waiting delayMs"
            await asyncio.sleep(config.delayMs / 1000)

    async def stabilise(self) -> tuple[int, int]:
        """Web fonts loaded, animations finished, masks drawn: the page's full size."""
        self.stage = "waiting for web fonts and taking the screenshot"
        arguments = {"masks": self.config.maskSelectors, "color": MASK_COLOR}
        for _ in range(2):
            try:
                width, height = await self.page.evaluate(_STABILISE, arguments)
                return width, height
            except Exception as exc:
                # The page navigated (a redirect by script, injectJs): wait for the new one.
                if classify(exc).kind != Failure.NAVIGATED:
                    raise
                await self.page.wait_for_load_state("load", timeout=self.remaining_ms())
                await self.wait_for_page()
        width, height = await self.page.evaluate(_STABILISE, arguments)
        return width, height

    def frame(self, width: int, height: int) -> Frame:
        """What the screenshot takes: the clip rectangle, the full page (cut to fit, in
        stripes), or the viewport."""
        config = self.config
        viewport = config.viewportSize
        # A clip's scale multiplies CSS pixels; the device pixel ratio is not applied for us.
        scale = config.deviceScaleFactor
        clip = config.clipRect
        params: dict = {"format": "png", "optimizeForSpeed": True, "fromSurface": True}
        if clip:
            if clip["width"] * clip["height"] * scale * scale > self.max_pixels:
                raise CaptureError(f"clipRect is over the limit of {self.max_pixels} pixels")
            params["captureBeyondViewport"] = True
            shot = (clip["left"], clip["top"], clip["width"], clip["height"])
        elif config.fullPage and (width > viewport["width"] or height > viewport["height"]):
            width, height = self.bounded(width, height, scale)
            params["captureBeyondViewport"] = True
            # Stripes of at most STRIPE_PIXELS device pixels: one screenshot of a taller page
            # may come back with tiles Chromium never painted.
            return Frame(params, (0, 0, width, height), scale, stripe_height(scale))
        else:  # a clip, even of the viewport, makes Chromium apply the device scale factor
            shot = (0, 0, viewport["width"], viewport["height"])
        left, top, clip_width, clip_height = shot
        params["clip"] = {
            "x": left,
            "y": top,
            "width": clip_width,
            "height": clip_height,
            "scale": scale,
        }
        return Frame(params, shot, scale)

    async def shoot(self, frame: Frame) -> bytes:
        """The screenshot, in stripes for a tall page (the layout map read with the first)."""
        wants_layout = self.config.layoutMap
        self.stage = "taking the screenshot"
        started = time.monotonic()
        if not frame.stripe:
            reply = await self.screenshot(frame.params, frame.shot, frame.scale, wants_layout)
            png = base64.b64decode(reply["data"])
            self.log.add(
                f"screenshot {len(png)} bytes in {(time.monotonic() - started) * 1000:.0f} ms"
            )
            return png
        _, _, width, height = frame.shot
        stripes = []
        for n, top in enumerate(range(0, height, frame.stripe)):
            params = dict(frame.params)
            params["clip"] = {
                "x": 0,
                "y": top,
                "width": width,
                "height": min(frame.stripe, height - top),
                "scale": frame.scale,
            }
            reply = await self.screenshot(params, frame.shot, frame.scale, wants_layout and not n)
            stripes.append(base64.b64decode(reply["data"]))
        png = await asyncio.to_thread(pngs.stitch, stripes)
        self.log.add(
            f"screenshot {len(png)} bytes in {(time.monotonic() - started) * 1000:.0f} ms"
            + (f" ({len(stripes)} stripes)" if len(stripes) > 1 else "")
        )
        return png

    async def screenshot(self, params: dict, shot, scale: float, with_layout: bool) -> dict:
        """One Page.captureScreenshot; ``with_layout``: the layout map is read meanwhile.

        The screenshot's command is sent first; the renderer runs the map's script while the
        screenshot is rasterised and encoded (on python3.11-doc's datetime.html: 1.13 s for
        both against 1.22 s one after the other). The map must describe the page as laid out
        for the config's viewport, whatever the screenshot does to the view (a full page is
        laid out taller for it): the script records the viewport it saw, and a map read in
        another is read again once the screenshot is done (seen in no test so far: 20 of 20
        reads of a page with a 100vh box saw the normal viewport)."""
        if not with_layout:
            return await self.cdp.send("Page.captureScreenshot", params)
        shooting = asyncio.ensure_future(self.cdp.send("Page.captureScreenshot", params))
        await asyncio.sleep(0)  # the screenshot's command goes first
        try:
            layout, viewport = await self.read_layout(shot, scale)
        except BaseException:
            shooting.cancel()
            await asyncio.gather(shooting, return_exceptions=True)
            raise
        reply = await shooting
        expected = self.config.viewportSize
        if viewport != (expected["width"], expected["height"]):
            self.log.add(
                f"the layout map was read in a {viewport[0]}x{viewport[1]} view; read again"
            )
            layout, _ = await self.read_layout(shot, scale)
        self.layout = layout
        return reply

    async def read_layout(self, shot, scale: float) -> tuple[bytes, tuple[int, int]]:
        """The page's layout map (capture.layout) for a screenshot of ``shot`` (left, top,
        width, height in CSS pixels), compressed, and the viewport the page had when it was
        read."""
        started = time.monotonic()
        left, top, width, height = shot
        text = await self.page.evaluate(
            layouts.SCRIPT,
            layouts.script_arguments(
                scale=scale,
                left=left,
                top=top,
                width=round(width * scale),
                height=round(height * scale),
                ignore=self.config.ignoreSelectors,
                max_elements=self.layout_max_elements,
            ),
        )
        data = await asyncio.to_thread(layouts.compress, text)
        dropped = layouts.dropped_count(text)
        self.log.add(
            f"layout map {len(data)} bytes in {(time.monotonic() - started) * 1000:.0f} ms"
            + (
                f"; {dropped} elements left out (over {self.layout_max_elements}, "
                "DPXDT_LAYOUT_MAX_ELEMENTS: the outermost are kept)"
                if dropped
                else ""
            )
        )
        if dropped:
            logger.info(
                "layout map of %s: %d elements left out (over DPXDT_LAYOUT_MAX_ELEMENTS=%d)",
                self.config.targetUrl,
                dropped,
                self.layout_max_elements,
            )
        return data, layouts.viewport_of(text)

    def bounded(self, width: int, height: int, scale: float) -> tuple[int, int]:
        """The full page's size cut to ``maxHeight`` and the pixel budget (logged)."""
        budget_rows = int(self.max_pixels // (width * scale * scale)) if width else height
        limit = min(self.config.maxHeight, budget_rows)
        if height > limit:
            why = (
                "maxHeight"
                if limit == self.config.maxHeight
                else f"the server's limit of {self.max_pixels} pixels, DPXDT_CAPTURE_MAX_PIXELS"
            )
            self.log.add(
                f"the page is {height} px tall; the screenshot is cut at {limit} px ({why})"
            )
            height = max(1, limit)
        return width, height

    async def wait_for_page(self):
        """The load state asked for, then a quiet network; slow resources stop counting after
        resourceTimeoutMs, as in the original."""
        wait_until = self.config.waitUntil
        resource_timeout = self.config.resourceTimeoutMs
        if wait_until in ("commit",):
            return
        self.stage = f"waiting for {wait_until}"
        state = "domcontentloaded" if wait_until == "domcontentloaded" else "load"
        try:
            await self.page.wait_for_load_state(
                state, timeout=min(self.remaining_ms(), max(resource_timeout, 1))
            )
        except Exception as exc:
            if classify(exc).kind != Failure.TIMEOUT:
                raise
            self.log.add(f"{state} event not fired after {resource_timeout} ms; continuing")
        if wait_until == "domcontentloaded":
            return
        self.stage = "settling"
        # Two animation frames: whatever the load handlers start is on the wire by then, and
        # the page has laid out and painted once.
        await self.page.evaluate(_TWO_FRAMES)
        if wait_until == "load" and not self.in_flight:
            return
        quiet = QUIET_MS[wait_until] / 1000
        while True:
            now = time.monotonic()
            for request, since in list(self.in_flight.items()):
                if (now - since) * 1000 > resource_timeout:
                    self.log.add(f"resource timed out after {resource_timeout} ms: {request.url}")
                    del self.in_flight[request]
            if not self.in_flight and now - self.last_activity >= quiet:
                return
            await asyncio.sleep(0.05)


_TWO_FRAMES = "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"

# Run in the page just before the screenshot: wait for web fonts, finish finite CSS animations
# and reset infinite ones (as Playwright's animations="disabled" does), stop transitions and the
# caret, cover the masked elements with solid boxes, and return the page's full size in CSS
# pixels. One round trip for all of it.
_STABILISE = """async ({masks, color}) => {
  if (document.fonts) await document.fonts.ready;  // web fonts, including injected CSS's
  const style = document.createElement('style');
  style.textContent = `*, *::before, *::after { transition: none !important;
    animation-play-state: paused !important; caret-color: transparent !important; }`;
  document.documentElement.appendChild(style);
  for (const animation of document.getAnimations()) {
    const timing = animation.effect && animation.effect.getComputedTiming();
    if (timing && timing.endTime !== Infinity) animation.finish(); else animation.cancel();
  }
  const covers = [];
  window[Symbol.for('depicted.masks')] = covers;  // the layout map leaves them out
  for (const selector of masks) {
    for (const element of document.querySelectorAll(selector)) {
      const box = element.getBoundingClientRect();
      if (!box.width || !box.height) continue;
      const cover = document.createElement('div');
      cover.style.cssText = `position:absolute;z-index:2147483647;background:${color};` +
        `left:${box.left + scrollX}px;top:${box.top + scrollY}px;` +
        `width:${box.width}px;height:${box.height}px;pointer-events:none`;
      document.documentElement.appendChild(cover);
      covers.push(cover);
    }
  }
  const root = document.documentElement, body = document.body || root;
  return [Math.ceil(Math.max(root.scrollWidth, body.scrollWidth, root.clientWidth)),
          Math.ceil(Math.max(root.scrollHeight, body.scrollHeight, root.clientHeight))];
}"""


def _cookie(cookie: dict, url: str) -> dict:
    result = {"name": cookie["name"], "value": str(cookie["value"])}
    if cookie.get("url"):
        result["url"] = cookie["url"]
    elif cookie.get("domain"):
        result["domain"] = cookie["domain"]
        result["path"] = cookie.get("path", "/")
    else:
        result["url"] = url
    for source, target in (
        ("secure", "secure"),
        ("httponly", "httpOnly"),
        ("httpOnly", "httpOnly"),
        ("expiry", "expires"),  # PhantomJS's spelling; "expires" wins when both are given
        ("expires", "expires"),
        ("sameSite", "sameSite"),
    ):
        if source in cookie:
            result[target] = cookie[source]
    return result
