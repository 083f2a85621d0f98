"""Screenshots with Playwright driving Chromium. No Django here: the local tool uses it too.

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
import base64
import concurrent.futures
import ctypes
import dataclasses
import logging
import os
import queue
import re
import shutil
import signal
import threading
import time
from collections import OrderedDict
from pathlib import Path
from urllib.parse import urlsplit

from . import layout as layouts
from . import png as pngs
from .config import DEFAULT_MAX_PIXELS, CaptureConfig, compile_regex
from .netpolicy import NetworkPolicy, host_port
from .proxy import PolicyProxy

logger = logging.getLogger(__name__)

CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--font-render-hinting=none",
    "--disable-dev-shm-usage",
    # Pages share renderer processes (the engine allows one per lane): a new page then costs
    # no process start, and isolation comes from clearing state (see the module docstring).
    "--disable-site-isolation-trials",
    # No GPU here: software compositing in the browser process saves a process
    # hop per frame (measured: ~10 % more captures per minute).
    "--in-process-gpu",
]
MASK_COLOR = "#FF00FF"
# The tallest stripe taken in one screenshot, in device pixels. Each screenshot call resizes the
# view to the whole page and lays it out again (about 0.8 s for python3.11-doc's stdtypes, the
# same for a stripe of 1,024 rows as of 32,768), so a page costs one call up to maxHeight's
# default; a single shot of 32,768 rows comes back complete, also under load (tested).
STRIPE_PIXELS = 32768
# How long past a capture's own limit the caller waits before it abandons the engine.
BACKSTOP_SECONDS = 30
MAX_CONTEXTS = 4
# How long the network must be quiet before a page counts as settled.
QUIET_MS = {"load": 50, "networkidle": 500}


class CaptureError(RuntimeError):
    """A capture that did not produce a screenshot. ``log`` is the capture log so far.
    ``permanent``: the config itself is refused (by the browser, past request_run's checks);
    trying again cannot help."""

    def __init__(self, reason: str, log: str = "", *, permanent: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.log = log
        self.permanent = permanent


@dataclasses.dataclass(frozen=True)
class CaptureResult:
    png: bytes  # empty for a capture of the layout map only
    log: str
    http_status: int | None
    seconds: float
    # The page's layout map (capture.layout), gzip-compressed JSON; None when the config
    # turned it off.
    layout: bytes | None = None


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


class CaptureLog:
    """The capture log: what a person needs to see why a page looks the way it does."""

    def __init__(self):
        self.started = time.monotonic()
        self.lines: list[str] = []

    def add(self, message: str):
        self.lines.append(f"{(time.monotonic() - self.started) * 1000:7.0f} ms  {message}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


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
        self._engine = _Engine(self.executable, lanes=self.lanes, **self._options)

    def _run_loop(self, loop):
        """The engine's thread. With ``nice``, it and all it starts (the Playwright driver,
        Chromium and its renderers inherit the value) run at that lower CPU priority. Once the
        loop is stopped (closed, or abandoned), what is still pending on it is cancelled and
        unwound, so that no half-run coroutine is left to be destroyed at exit."""
        if self.nice:
            lower_priority(self.nice)
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
        timeout = config.get("timeoutMs") / 1000
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


class _PooledContext:
    """A browser context and the one page its captures take in turn: after each capture the
    page is reset (see ``_Capture.clean_up``) rather than closed, since a new page costs the
    browser and the renderer ~0.04 CPU-s more a capture (a new view, its compositor,
    Playwright's setup; measured on 20 captures of a small page)."""

    def __init__(self, context):
        self.context = context
        self.idle = None  # (page, CDP session) reset and ready for the next capture

    async def take_page(self):
        if self.idle is not None:
            taken, self.idle = self.idle, None
            return taken
        page = await self.context.new_page()
        cdp = await self.context.new_cdp_session(page)
        # Reports every Web Storage write; a page that wrote its sessionStorage is not reused.
        await cdp.send("DOMStorage.enable")
        return page, cdp

    def give_back(self, page, cdp):
        self.idle = (page, cdp)

    async def close(self):
        self.idle = None
        await self.context.close()


class _Engine:
    """Async state; lives on the Browser's loop only."""

    def __init__(self, executable, *, max_pixels, policy, lanes, layout_max_elements):
        self.executable = executable
        self.layout_max_elements = layout_max_elements
        self.lanes = lanes
        self.max_pixels = max_pixels
        self.policy = policy
        self.proxy = None
        self.playwright = None
        self.driver_process = None  # the Playwright driver (node), Chromium runs below it
        self.browser = None
        # Keyed by (lane, partition, context options): lanes never share a context.
        self.contexts: OrderedDict[tuple, _PooledContext] = OrderedDict()
        self.pending_clean_up: dict[int, asyncio.Future] = {}  # by lane
        self.starting = asyncio.Lock()
        # Restarting waits until no other lane's capture runs on this Chromium.
        self.gate = asyncio.Condition()
        self.busy = 0  # captures running
        self.restarts_waiting = 0
        self.generation = 0  # how many times Chromium was stopped

    async def start(self):
        async with self.starting:
            if self.browser is None or not self.browser.is_connected():
                await self._start()

    async def _start(self):
        await self.stop()
        from playwright.async_api import async_playwright

        manager = async_playwright()
        self.playwright = await manager.start()
        # The driver's process, for kill(): Playwright keeps it on the manager's client only.
        self.driver_process = getattr(
            getattr(getattr(manager, "_client", None), "_transport", None), "_proc", None
        )
        # A renderer per lane, so that one lane's layout and paint run beside the other's
        # (measured with 2 lanes: ~5 % less wall time than one shared renderer).
        args = [*CHROMIUM_ARGS, f"--renderer-process-limit={self.lanes}"]
        if self.policy is not None:
            if self.proxy is None:
                self.proxy = await PolicyProxy(self.policy).start()
            # Every request through the policy proxy, loopback included; no UDP around it.
            args += [
                f"--proxy-server={self.proxy.address}",
                "--proxy-bypass-list=<-loopback>",
                "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
            ]
        # Chromium's sandbox needs an unprivileged user: as root it cannot run, so it is off
        # there (and the worker log says so). Production runs capture workers unprivileged.
        sandbox = os.geteuid() != 0
        if not sandbox:
            logger.warning(
                "running as root: Chromium's sandbox is off (--no-sandbox); run "
                "capture workers as an unprivileged user to keep it on"
            )
        options = {"args": args, "headless": True, "chromium_sandbox": sandbox}
        if self.executable:
            options["executable_path"] = self.executable
        try:
            self.browser = await self.playwright.chromium.launch(**options)
        except Exception as exc:  # seen here: Chromium dying of SIGSEGV at start, rarely
            logger.warning("Chromium did not start (%s); trying once more", _first_line(exc))
            self.browser = await self.playwright.chromium.launch(**options)
        self.browser.on("disconnected", self._on_disconnected)

    def _on_disconnected(self, browser):
        if browser is self.browser:  # not when we closed it ourselves
            logger.warning("Chromium disconnected; it is started again for the next capture")

    async def stop(self):
        for pending in self.pending_clean_up.values():
            pending.cancel()
        self.pending_clean_up.clear()
        self.contexts.clear()
        if self.browser is not None:
            browser, self.browser = self.browser, None
            try:
                await asyncio.wait_for(browser.close(), 10)
            except Exception as exc:  # already gone, or hung: the driver is stopped below
                logger.warning("closing Chromium: %s", exc)
        if self.playwright is not None:
            try:
                await asyncio.wait_for(self.playwright.stop(), 10)
            except Exception as exc:
                logger.warning("stopping Playwright: %s", exc)
            self.playwright = None
            self.driver_process = None
        if self.proxy is not None:
            await self.proxy.stop()
            self.proxy = None

    async def restart(self, generation: int):
        """Stop Chromium (the next capture starts it again), called by a capture that began
        in ``generation``: once no other lane's capture is running on it, unless another lane
        restarted it meanwhile. New captures wait until then."""
        async with self.gate:
            self.busy -= 1
            self.restarts_waiting += 1
            try:
                await self.gate.wait_for(lambda: self.busy == 0 or self.generation != generation)
                if self.generation == generation:
                    await self.stop()
                    self.generation += 1
            finally:
                self.restarts_waiting -= 1
                self.busy += 1
                self.gate.notify_all()

    def driver_pid(self) -> int | None:
        """The Playwright driver's process (Chromium runs below it), if it was started."""
        return getattr(self.driver_process, "pid", None)

    def kill(self):
        """From another thread, when this engine's loop is stuck: kill the Playwright driver
        and every process below it (Chromium), without waiting on the loop."""
        process = self.driver_pid()
        if process is None:
            logger.warning("could not find the stuck Chromium's driver to stop it")
            return
        for pid in [process, *_descendants(process)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    async def context_for(self, config: CaptureConfig, partition: str, lane: int) -> _PooledContext:
        key = (lane, partition, config.context_key())
        pooled = self.contexts.get(key)
        if pooled is not None:
            self.contexts.move_to_end(key)
            return pooled
        options = {
            "viewport": config.get("viewportSize"),
            "reduced_motion": "reduce",
            "color_scheme": config.get("colorScheme"),
            "device_scale_factor": config.get("deviceScaleFactor"),
            "ignore_https_errors": config.get("ignoreHTTPSErrors"),
            "service_workers": "block",
        }
        for name, option in (
            ("userAgent", "user_agent"),
            ("locale", "locale"),
            ("timezoneId", "timezone_id"),
        ):
            if config.get(name):
                options[option] = config.get(name)
        if config.get("httpUserName") is not None:
            # Answered to the run's own origin only: a redirect to, or an image from, another
            # origin that asks for a password never receives it.
            options["http_credentials"] = {
                "username": config.get("httpUserName"),
                "password": config.get("httpPassword"),
                "origin": config.origin(),
            }
        context = await self.browser.new_context(**options)
        await context.add_init_script(layouts.INIT_SCRIPT)
        pooled = _PooledContext(context)
        self.contexts[key] = pooled
        mine = [other for other in self.contexts if other[0] == lane]
        for oldest in mine[: max(0, len(mine) - MAX_CONTEXTS)]:
            await self.contexts.pop(oldest).close()
        return pooled

    async def capture(
        self,
        config: CaptureConfig,
        timeout: float,
        partition: str = "",
        lane: int = 0,
        layout_only: bool = False,
    ) -> CaptureResult:
        started = time.monotonic()
        async with self.gate:
            await self.gate.wait_for(lambda: not self.restarts_waiting)
            self.busy += 1
            generation = self.generation
        try:
            return await self._capture(
                config, timeout, partition, lane, started, generation, layout_only
            )
        finally:
            async with self.gate:
                self.busy -= 1
                self.gate.notify_all()

    async def _capture(self, config, timeout, partition, lane, started, generation, layout_only):
        log = CaptureLog()
        for warning in config.warnings:
            log.add(f"warning: {warning}")
        await self.finish_clean_up(lane, generation)
        try:
            await self.start()
        except Exception as exc:
            await self.restart(generation)
            raise CaptureError(f"could not start the browser: {exc}", log.text()) from exc
        try:
            pooled = await self.context_for(config, partition, lane)
            page, cdp = await pooled.take_page()
        except Exception as exc:
            if self.browser is not None and self.browser.is_connected():
                # The browser is well and refused the context's options: the config's fault.
                reason = f"the browser refused the config: {_refusal(exc)}"
                raise CaptureError(reason, log.text(), permanent=True) from None
            await self.restart(generation)
            raise CaptureError(f"could not start the browser: {exc}", log.text()) from exc
        session = _Capture(
            page,
            cdp,
            pooled,
            config,
            log,
            started + timeout,
            self.max_pixels,
            layout_max_elements=self.layout_max_elements,
            layout_only=layout_only,
        )
        if self.proxy is not None:
            self.proxy.on_event = session.on_proxy_event
        try:
            png = await asyncio.wait_for(session.run(), timeout)
        except CaptureError as exc:
            await self.end_capture(session, lane)
            raise CaptureError(exc.reason, log.text(), permanent=exc.permanent) from None
        except Exception as exc:
            failure = classify(exc)
            if failure.kind == Failure.TIMEOUT:
                reason = session.timeout_reason(timeout)
            elif self.browser is None or not self.browser.is_connected():
                reason = f"the browser crashed: {failure.detail}"
            elif session.crashed:
                reason = "the page crashed (renderer process died)"
            elif failure.kind == Failure.NETWORK:
                reason = f"could not load {config.get('targetUrl')}: {failure.detail}"
            else:
                reason = f"capture failed: {failure.detail}"
            log.add(reason)
            if failure.kind == Failure.NETWORK:
                await self.end_capture(session, lane)
            else:
                # A page that hung or crashed may have taken the shared renderer with it:
                # start afresh rather than let it spoil the next capture.
                await self.restart(generation)
            raise CaptureError(reason, log.text()) from None
        await self.end_capture(session, lane)
        return CaptureResult(
            png, log.text(), session.http_status, time.monotonic() - started, session.layout
        )

    async def end_capture(self, session, lane: int):
        """The page's popups are closed now; the rest of cleaning up overlaps with whatever
        the caller does with the result, and the lane's next capture waits for it first."""
        await session.close_popups()
        self.pending_clean_up[lane] = asyncio.ensure_future(session.clean_up())

    async def finish_clean_up(self, lane: int, generation: int):
        pending = self.pending_clean_up.pop(lane, None)
        if pending is not None and not await pending:
            await self.restart(generation)


# prctl(2) and capability(7) numbers (linux/prctl.h, linux/capability.h).
_PR_CAPBSET_DROP, _CAP_SYS_NICE = 24, 23


def lower_priority(nice: int) -> None:
    """This thread's niceness raised to ``nice`` (never lowered). Linux keeps it per thread, and
    a process started from the thread inherits it.

    Chromium sets its own threads' priorities (its compositor and I/O threads at -8, its thread
    pool at 0): an unprivileged process cannot go below what it inherited, but root can, and
    would undo this. As root, the thread therefore also drops CAP_SYS_NICE from what the
    processes it starts may hold."""
    thread = threading.get_native_id()
    current = os.getpriority(os.PRIO_PROCESS, thread)
    if nice > current:
        os.setpriority(os.PRIO_PROCESS, thread, nice)
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_CAPBSET_DROP, _CAP_SYS_NICE, 0, 0, 0) != 0:
            logger.warning(
                "could not drop CAP_SYS_NICE for Chromium (%s): as root it may raise the "
                "priority of some of its threads again",
                os.strerror(ctypes.get_errno()),
            )


def stripe_height(scale: float) -> int:
    """The tallest stripe, in CSS pixels, that is at most STRIPE_PIXELS device pixels and a
    whole number of them at this scale, so stripes meet without a seam (at 1.25: 13104)."""
    top = max(1, int(STRIPE_PIXELS // scale))
    for height in range(top, max(0, top - 1000), -1):
        if abs(height * scale - round(height * scale)) < 1e-6:
            return height
    return top


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc)."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        children = []
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children += (task / "children").read_text().split()
            except OSError:
                continue
        found += [int(child) for child in children]
        queue += [int(child) for child in children]
    return found


@dataclasses.dataclass(frozen=True)
class Failure:
    """What a Playwright (or asyncio) exception means for a capture."""

    TIMEOUT = "timeout"  # a wait ran out of time
    NETWORK = "network"  # the page could not be loaded (net::ERR_...)
    NAVIGATED = "navigated"  # the page navigated away under a script (not an error as such)
    CLOSED = "closed"  # the page, its context or the browser went away
    OTHER = "other"

    kind: str
    detail: str  # the first line of the message, or the net::ERR_ code


def classify(exc: BaseException) -> Failure:
    """The one place that reads Playwright's exceptions: by type where Playwright gives one
    (its TimeoutError, asyncio's), else by the message's stable parts."""
    message = str(exc)
    timed_out = isinstance(exc, asyncio.TimeoutError) or "Timeout" in type(exc).__name__
    if timed_out or re.search(r"\bTimeout \d+ms exceeded", message):
        return Failure(Failure.TIMEOUT, _first_line(exc))
    network = re.search(r"net::ERR_[A-Z_]+", message)
    if network:
        return Failure(Failure.NETWORK, network.group(0))
    if "Execution context was destroyed" in message:
        return Failure(Failure.NAVIGATED, _first_line(exc))
    if "has been closed" in message or "Target closed" in message:
        return Failure(Failure.CLOSED, _first_line(exc))
    return Failure(Failure.OTHER, _first_line(exc))


def _first_line(exc) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _refusal(exc) -> str:
    """The browser's reason for refusing a value, without Playwright's call and protocol
    prefixes ("BrowserContext.new_page: Protocol error (Emulation...): Invalid ...")."""
    line = _first_line(exc)
    line = re.sub(r"^[A-Za-z]+\.[a-z_]+: ", "", line)
    return re.sub(r"^Protocol error \([^)]*\): ", "", line)


class _Capture:
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
        self.page = page
        self.layout_max_elements = layout_max_elements
        self.layout_only = layout_only
        self.layout: bytes | None = None
        self.cdp = cdp
        self.pooled = pooled
        self.context = pooled.context
        self.max_pixels = max_pixels
        self.proxy_events: list[tuple[str, str, str]] = []
        self.config = config
        self.log = log
        self.deadline = deadline
        self.http_status = None
        self.crashed = False
        self.popups: list = []  # windows this capture's page (or its popups) opened
        self.stage = "starting"
        self.in_flight: dict = {}
        self.last_activity = time.monotonic()
        self.origins: set[str] = set()
        # RE2: matching is linear in the URL whatever the pattern, so no config can stall
        # this loop (a Python regex like (a+)+b against a long URL takes minutes).
        self.blocked = [compile_regex(p) for p in config.get("resourcesToIgnore")]
        self.headers = [(compile_regex(p), h) for p, h in config.get("injectHeaders").items()]
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

    # --- events -----------------------------------------------------------------------------
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
        self.log.add(f"page error: {_first_line(error)}")

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

    # --- the capture ------------------------------------------------------------------------
    async def run(self) -> bytes:
        page, config, log = self.page, self.config, self.log
        for event, handler in self.listeners:
            page.on(event, handler)
        self.context.on("request", self._on_context_request)
        for event in _STORAGE_WRITES:
            self.cdp.on(event, self._on_storage_write)

        viewport = config.get("viewportSize")
        if page.viewport_size != viewport:
            await page.set_viewport_size(viewport)
        if self.blocked or self.headers:
            await page.route("**/*", self._route)
            self.routed = True
        url = config.get("targetUrl")
        if config.get("cookies"):
            try:
                await self.context.add_cookies([_cookie(c, url) for c in config.get("cookies")])
            except Exception as exc:
                if classify(exc).kind != Failure.OTHER:
                    raise
                reason = f"the browser refused the cookies: {_refusal(exc)}"
                raise CaptureError(reason, permanent=True) from None

        # A page that is not the foreground one gets no frames: the screenshot then waits
        # ~2 s for one and may miss tiles.
        await self.cdp.send("Page.bringToFront")
        self.stage = "loading the page"
        log.add(f"open {url} (viewport {viewport['width']}x{viewport['height']})")
        started = time.monotonic()
        try:
            response = await page.goto(url, wait_until="commit", timeout=self.remaining_ms())
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
            log.add(
                f"main document: HTTP {response.status} "
                f"{response.headers.get('content-type', '')}".rstrip()
            )
            if response.status >= 400:
                raise CaptureError(f"{url} answered HTTP {response.status}")
        await self.wait_for_page()
        log.add(f"page ready after {(time.monotonic() - started) * 1000:.0f} ms")

        if config.get("waitForSelector"):
            self.stage = f"waiting for {config.get('waitForSelector')}"
            try:
                await page.wait_for_selector(
                    config.get("waitForSelector"), state="visible", timeout=self.remaining_ms()
                )
            except Exception as exc:
                if "while parsing" in str(exc):  # a selector the browser cannot parse
                    reason = (
                        f"waitForSelector {config.get('waitForSelector')!r}: the browser "
                        f"cannot parse it ({_refusal(exc)})"
                    )
                    raise CaptureError(reason, permanent=True) from None
                raise CaptureError(
                    f"waitForSelector {config.get('waitForSelector')!r}: "
                    f"no visible match ({_first_line(exc)})"
                ) from None

        css = config.get("injectCss") or ""
        if config.get("hideSelectors"):
            css += (
                "\n"
                + ", ".join(config.get("hideSelectors"))
                + " { visibility: hidden !important; }"
            )
        if css.strip():
            await page.add_style_tag(content=css)
            log.add("injected CSS")
        if config.get("injectJs"):
            self.stage = "running injectJs"
            try:
                await page.evaluate("(source) => { (0, eval)(source); }", config.get("injectJs"))
            except Exception as exc:
                if classify(exc).kind != Failure.NAVIGATED:  # it navigated: fine
                    message = re.sub(r"^Page\.evaluate: (Error: )?", "", _first_line(exc))
                    raise CaptureError(f"injectJs threw: {message}") from None
            log.add("ran injectJs")
            await asyncio.sleep(0.1)  # a click's navigation starts asynchronously
            await self.wait_for_page()

        if config.get("delayMs"):
            self.stage = "waiting delayMs"
            await asyncio.sleep(config.get("delayMs") / 1000)

        self.stage = "waiting for web fonts and taking the screenshot"
        started = time.monotonic()
        for attempt in range(3):
            try:
                width, height = await page.evaluate(
                    _STABILISE, {"masks": config.get("maskSelectors"), "color": MASK_COLOR}
                )
                break
            except Exception as exc:
                # The page navigated (a redirect by script, injectJs): wait for the new one.
                if classify(exc).kind != Failure.NAVIGATED or attempt == 2:
                    raise
                await page.wait_for_load_state("load", timeout=self.remaining_ms())
                await self.wait_for_page()
        params = {"format": "png", "optimizeForSpeed": True, "fromSurface": True}
        # A clip's scale multiplies CSS pixels; the device pixel ratio is not applied for us.
        scale = config.get("deviceScaleFactor")
        clip = config.get("clipRect")
        stripes_of = None  # a full page: the stripes' tops and height
        if clip:
            params["clip"] = {
                "x": clip["left"],
                "y": clip["top"],
                "width": clip["width"],
                "height": clip["height"],
                "scale": scale,
            }
            params["captureBeyondViewport"] = True
            if clip["width"] * clip["height"] * scale * scale > self.max_pixels:
                raise CaptureError(f"clipRect is over the limit of {self.max_pixels} pixels")
            shot = (clip["left"], clip["top"], clip["width"], clip["height"])
        elif config.get("fullPage") and (width > viewport["width"] or height > viewport["height"]):
            width, height = self.bounded(width, height, scale)
            params["captureBeyondViewport"] = True
            # Stripes of at most STRIPE_PIXELS device pixels: one screenshot of a taller page
            # may come back with tiles Chromium never painted.
            stripes_of = (range(0, height, stripe_height(scale)), stripe_height(scale))
            shot = (0, 0, width, height)
        else:  # a clip, even of the viewport, makes Chromium apply the device scale factor
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": viewport["width"],
                "height": viewport["height"],
                "scale": scale,
            }
            shot = (0, 0, viewport["width"], viewport["height"])

        if self.layout_only:
            self.stage = "reading the layout map"
            self.layout, _ = await self.read_layout(shot, scale)
            return b""
        wants_layout = bool(config.get("layoutMap"))

        self.stage = "taking the screenshot"
        started = time.monotonic()
        if stripes_of is not None:
            tops, stripe = stripes_of
            stripes = []
            for n, top in enumerate(tops):
                params["clip"] = {
                    "x": 0,
                    "y": top,
                    "width": width,
                    "height": min(stripe, height - top),
                    "scale": scale,
                }
                reply = await self.screenshot(params, shot, scale, wants_layout and not n)
                stripes.append(base64.b64decode(reply["data"]))
            png = await asyncio.to_thread(pngs.stitch, stripes)
            log.add(
                f"screenshot {len(png)} bytes in {(time.monotonic() - started) * 1000:.0f} ms"
                + (f" ({len(stripes)} stripes)" if len(stripes) > 1 else "")
            )
            return png
        reply = await self.screenshot(params, shot, scale, wants_layout)
        png = base64.b64decode(reply["data"])
        log.add(f"screenshot {len(png)} bytes in {(time.monotonic() - started) * 1000:.0f} ms")
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
        expected = self.config.get("viewportSize")
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
                ignore=self.config.get("ignoreSelectors"),
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
                self.config.get("targetUrl"),
                dropped,
                self.layout_max_elements,
            )
        return data, layouts.viewport_of(text)

    def bounded(self, width: int, height: int, scale: float) -> tuple[int, int]:
        """The full page's size cut to ``maxHeight`` and the pixel budget (logged)."""
        budget_rows = int(self.max_pixels // (width * scale * scale)) if width else height
        limit = min(self.config.get("maxHeight"), budget_rows)
        if height > limit:
            why = (
                "maxHeight"
                if limit == self.config.get("maxHeight")
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
        wait_until = self.config.get("waitUntil")
        resource_timeout = self.config.get("resourceTimeoutMs")
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
            for event in _STORAGE_WRITES:
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


_STORAGE_WRITES = ("DOMStorage.domStorageItemAdded", "DOMStorage.domStorageItemUpdated")
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
