"""Screenshots with Playwright driving Chromium: ``Browser``, the one entry point (the parts:
``engine``, ``session``, ``failures``). No Django here: the local tool uses it too.

One Chromium per process, driven from a private asyncio loop on a background thread, so that a
capture has a hard time limit even when the page hangs the renderer (a synchronous Playwright
call cannot be abandoned; an awaited one can).

Isolation without a new browser context per capture: a context costs a new renderer process
(~150 ms), so a context is shared by captures of one partition (the server passes the build and
the release: builds never share a context) whose context-level options are the same. Its
captures take one page in turn: afterwards every page a capture opened (popups, new windows,
and the workers they run) is closed, its own page is taken to about:blank with its name and
history reset (or closed, if its sessionStorage was written), and the cookies of the context
and every kind of storage of every origin it touched are cleared. Nothing one capture sets is
visible to the next; the tests check that. The HTTP cache is the one thing a partition's
captures share, as one visitor's browser would: a release's pages load its stylesheets and
scripts once, and no other release (a new partition, a new context) ever sees them.

Tall pages are taken in stripes of at most STRIPE_PIXELS device pixels and stitched, and cut at
the config's ``maxHeight`` and the ``max_pixels`` budget, so every capture can be diffed.

With a ``policy`` (the server's workers), every request goes through capture.proxy, which
checks it against the capture network policy.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import queue
import shutil
import threading

from common import procs

from . import layout as layouts
from .config import DEFAULT_MAX_PIXELS, CaptureConfig
from .engine import CHROMIUM_ARGS, CaptureResult, Engine
from .failures import CaptureError
from .netpolicy import NetworkPolicy

__all__ = ["CHROMIUM_ARGS", "Browser", "CaptureError", "CaptureResult", "find_chromium"]

logger = logging.getLogger(__name__)

# How long past a capture's own limit the caller waits before it abandons the engine.
BACKSTOP_SECONDS = 30


def find_chromium(explicit: str | None = None) -> str | None:
    """``explicit`` (from DPXDT_CHROMIUM), then the system's Chromium headless shell, then its
    Chromium, then None: Playwright's own browser. An explicit path that does not exist is an
    error, not a silent fallback.

    The headless shell (Debian's chromium-headless-shell, the build Playwright itself runs for
    headless pages) is Chromium's renderer without the browser's window machinery: on
    python3.11-doc's pages it takes the same screenshots for ~15 % less CPU (tests/bench),
    pixel for pixel but for a few antialiased edges of semi-transparent boxes (datetime.html:
    3,336 of 42 million pixels). So a switch between the two shows as small diffs once."""
    if explicit:
        if not os.path.exists(explicit):
            raise FileNotFoundError(f"Chromium not found at {explicit}")
        return explicit
    for candidate in (
        "/usr/bin/chromium-headless-shell",
        shutil.which("chromium-headless-shell"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


class Browser:
    """A Chromium for this process. ``capture()`` is thread-safe and runs one page at a time.

    ``nice``: the CPU priority Chromium runs at (0-19). A capture worker's Chromium takes all
    the CPU it gets; on a host it shares with a diff worker or the web server, a higher value
    lets those go first (a release's diffs then keep pace with its captures)."""

    def __init__(
        self,
        executable: str | None = None,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        policy: NetworkPolicy | None = None,
        lanes: int = 1,
        nice: int = 0,
        layout_max_elements: int = layouts.DEFAULT_MAX_ELEMENTS,
    ):
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, not {lanes}")
        if not 0 <= nice <= 19:
            raise ValueError(f"nice must be between 0 and 19, not {nice}")
        if policy is not None and lanes > 1:
            # The policy proxy reports what it refused to the one capture in progress.
            raise ValueError("a capture network policy needs lanes=1 (one capture at a time)")
        self.executable = find_chromium(executable)
        self.lanes = lanes
        self.nice = nice
        self._options = {
            "max_pixels": max_pixels,
            "policy": policy,
            "layout_max_elements": layout_max_elements,
        }
        self._free_lanes: queue.SimpleQueue[int] = queue.SimpleQueue()
        for lane in range(lanes):
            self._free_lanes.put(lane)
        self._engine_lock = threading.Lock()
        self._start_engine()

    def set_policy(self, policy: NetworkPolicy) -> None:
        """A new network policy for the next requests (the server's own addresses changed).
        Only a browser started with a policy has the proxy that enforces it."""
        if self._options["policy"] is None:
            raise ValueError("this browser was started without a network policy")
        self._options["policy"] = policy
        with self._engine_lock:
            engine = self._engine
        engine.policy = policy
        if engine.proxy is not None:
            engine.proxy.policy = policy

    def _start_engine(self):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run_loop, args=(self._loop,), name="dpxdt-browser", daemon=True
        )
        self._thread.start()
        self._engine = Engine(self.executable, lanes=self.lanes, **self._options)

    def _run_loop(self, loop):
        """The engine's thread. With ``nice``, it and all it starts (the Playwright driver,
        Chromium and its renderers inherit the value) run at that lower CPU priority. Once the
        loop is stopped (closed, or abandoned), what is still pending on it is cancelled and
        unwound, so that no half-run coroutine is left to be destroyed at exit."""
        if self.nice:
            procs.lower_priority(self.nice)
        try:
            loop.run_forever()
        finally:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=5))
            loop.close()

    def capture(
        self, config: CaptureConfig, partition: str = "", *, layout_only: bool = False
    ) -> CaptureResult:
        """Capture one page. Captures of different ``partition`` values never share a browser
        context nor its HTTP cache (the server passes the build and the release).
        ``layout_only``: load the page and read its layout map, without a screenshot (a second
        look at a page whose difference its elements explain: is it the same again?).

        Up to ``lanes`` captures run at once (from as many threads), each on its own
        contexts, so that one page loads and lays out while another's screenshot is encoded;
        a caller beyond that waits for a lane."""
        timeout = config.timeoutMs / 1000
        lane = self._free_lanes.get()
        try:
            with self._engine_lock:
                loop, engine = self._loop, self._engine
            future = asyncio.run_coroutine_threadsafe(
                engine.capture(config, timeout, partition, lane, layout_only), loop
            )
            try:
                # The engine enforces the limit itself; this is the backstop if it cannot.
                return future.result(timeout=timeout + BACKSTOP_SECONDS)
            except concurrent.futures.TimeoutError:
                future.cancel()
                self._abandon(engine)
                raise CaptureError(
                    f"capture did not finish within {timeout:.0f} s; it was "
                    "abandoned and the browser started afresh"
                ) from None
        finally:
            self._free_lanes.put(lane)

    def _abandon(self, engine):
        """Give up on an engine whose loop does not answer (something blocks it): the next
        capture gets a new loop and a new Chromium at once, and the old Chromium and driver
        are killed, so nothing waits on the stuck one. (Captures of other lanes on the stuck
        engine find it abandoned already.)"""
        with self._engine_lock:
            if engine is not self._engine:
                return
            loop = self._loop
            logger.warning(
                "a capture overran its limit and its engine does not answer; starting a new browser"
            )
            self._start_engine()
        engine.kill()
        loop.call_soon_threadsafe(loop.stop)

    def close(self):
        try:
            self._run(self._engine.stop(), 30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    def _run(self, coroutine, timeout):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=timeout)
