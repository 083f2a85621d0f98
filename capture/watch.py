"""What a capture's page does and leaves behind: its requests (in flight, failed, refused by
the network policy), its console and errors, the windows it opens, the origins whose storage
it may write; and the clean-up after it, so that the next capture on the same page sees none
of it. ``CaptureSession`` is a ``PageWatch``. No Django here."""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit

from .failures import first_line
from .netpolicy import host_port

logger = logging.getLogger(__name__)

STORAGE_WRITES = ("DOMStorage.domStorageItemAdded", "DOMStorage.domStorageItemUpdated")


class PageWatch:
    """The page's events, kept for the capture log and the clean-up."""

    def __init__(self, page, cdp, pooled, log):
        self.page = page
        self.cdp = cdp
        self.pooled = pooled
        self.context = pooled.context
        self.log = log
        self.proxy_events: list[tuple[str, str, str]] = []
        self.crashed = False
        self.popups: list = []  # windows this capture's page (or its popups) opened
        self.in_flight: dict = {}
        self.last_activity = time.monotonic()
        self.origins: set[str] = set()
        self.blocked: list = []  # patterns of requests to block (resourcesToIgnore)
        self.headers: list = []  # (pattern, headers) to add (injectHeaders)
        self.routed = False
        self.session_storage_written = False
        self.listeners = [
            ("request", self._on_request),
            ("requestfinished", self._on_request_done),
            ("requestfailed", self._on_request_failed),
            ("response", self._on_response),
            ("console", self._on_console),
            ("pageerror", self._on_page_error),
            ("crash", self._on_crash),
            ("popup", self._on_popup),
        ]

    def _on_request(self, request):
        self.in_flight[request] = time.monotonic()
        self.last_activity = time.monotonic()

    def _on_context_request(self, request):
        """Every request of every page in the context (this page, its popups and their
        frames and workers): each origin may have written storage, cleared in clean_up."""
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https"):
            self.origins.add(f"{parts.scheme}://{parts.netloc}")

    def _on_request_done(self, request):
        self.in_flight.pop(request, None)
        self.last_activity = time.monotonic()

    def _on_request_failed(self, request):
        self._on_request_done(request)
        failure = request.failure or "failed"
        if "ERR_BLOCKED_BY_CLIENT" not in failure and "ERR_ABORTED" not in failure:
            self.log.add(f"request failed: {request.url} ({failure})")

    def _on_response(self, response):
        if response.status >= 400 and response.request.resource_type != "document":
            self.log.add(f"resource answered {response.status}: {response.url}")

    def on_proxy_event(self, kind, url, reason):
        self.proxy_events.append((kind, url, reason))
        if kind == "denied":
            self.log.add(f"blocked by the capture network policy: {url} ({reason})")
        else:
            self.log.add(f"request failed: {url} ({reason})")

    def refused_navigation(self, url: str, *, redirected: bool = False) -> str | None:
        """Why the proxy did not let the page ``url`` through, if it did not. ``redirected``:
        the navigation failed before any answer, so a refusal of any hop (a redirect's target)
        is the reason; nothing but the navigation has made requests yet."""
        target = host_port(url)
        for kind, event_url, reason in reversed(self.proxy_events):
            here = host_port(event_url)
            if here == target or redirected:
                what = url if here == target else f"{url} (redirected to {event_url})"
                return (
                    f"{what} is denied by the capture network policy: {reason}"
                    if kind == "denied"
                    else f"could not load {what}: {reason}"
                )
        return None

    def _on_popup(self, popup):
        self.log.add(f"the page opened a window ({popup.url}); it is closed when the capture ends")
        self.popups.append(popup)
        popup.on("popup", self._on_popup)

    async def close_popups(self):
        """Close the windows the page opened, before the capture's result is handed back: a
        popup must not run on (or poll the site) once its capture has ended. clean_up later
        closes whatever else is left in the context."""
        popups, self.popups = self.popups, []
        for popup in popups:
            popup.remove_listener("popup", self._on_popup)
        results = await asyncio.gather(
            *(asyncio.wait_for(popup.close(), 5) for popup in popups), return_exceptions=True
        )
        for result in results:
            if isinstance(result, Exception):
                logger.warning("closing a popup failed: %s", result)

    def _on_storage_write(self, event):
        if not event["storageId"].get("isLocalStorage", True):
            self.session_storage_written = True

    def _on_console(self, message):
        self.log.add(f"console.{message.type}: {message.text}")

    def _on_page_error(self, error):
        self.log.add(f"page error: {first_line(error)}")

    def _on_crash(self, _page):
        self.crashed = True
        self.log.add("the page crashed")

    async def _route(self, route, request):
        url = request.url
        if url.startswith("data:"):
            await route.continue_()
            return
        if any(pattern.search(url) for pattern in self.blocked):
            self.log.add(f"blocked: {url}")
            await route.abort("blockedbyclient")
            return
        extra = {}
        for pattern, headers in self.headers:
            if pattern.search(url):
                extra.update(headers)
        if extra:
            await route.continue_(headers={**request.headers, **extra})
        else:
            await route.continue_()

    async def clean_up(self) -> bool:
        """Reset the page for the next capture and clear what this one left in the shared
        context; the page is then given back to its context. False: the context is in an
        unknown state and the browser should be restarted.

        What a new page would not have and a reused one must lose: the document (and with it
        its timers, workers and injected CSS or JS; the next navigation starts from
        about:blank), ``window.name``, the session history (``history.length``, nothing to go
        back to), sessionStorage (kept per page), and this capture's routes and listeners.
        Popups and other windows are closed; cookies and the storage of every origin the
        capture touched (its page's and its popups' requests, frames and workers included)
        are cleared after the page has unloaded, so that an unload handler's writes go too."""
        page = self.page
        try:
            for event, handler in self.listeners:
                page.remove_listener(event, handler)
            self.context.remove_listener("request", self._on_context_request)
            if self.routed:
                await asyncio.wait_for(page.unroute("**/*", self._route), 5)
            # Popups and windows the page opened (and their workers) end with the capture:
            # nothing it started may run on into the next one.
            for other in list(self.context.pages):
                if other is not page:
                    await asyncio.wait_for(other.close(), 5)
            await page.goto("about:blank", wait_until="load", timeout=5000)
            # A round trip through the renderer: the storage writes of unloading are reported.
            await asyncio.wait_for(page.evaluate("window.name = ''"), 5)
            await asyncio.wait_for(self.cdp.send("Page.resetNavigationHistory"), 5)
            for event in STORAGE_WRITES:
                self.cdp.remove_listener(event, self._on_storage_write)
            for origin in sorted(self.origins):
                await asyncio.wait_for(
                    self.cdp.send(
                        "Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"}
                    ),
                    5,
                )
            await asyncio.wait_for(self.context.clear_cookies(), 5)
            if self.session_storage_written:
                await asyncio.wait_for(page.close(), 10)
            else:
                self.pooled.give_back(page, self.cdp)
            return True
        except Exception as exc:
            logger.warning("cleaning up after a capture failed (%s); restarting Chromium", exc)
            return False
