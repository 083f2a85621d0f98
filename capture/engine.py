"""The capture engine: one Chromium (started, restarted, killed) and its pool of browser
contexts, living on the Browser's event loop. No Django here.

Isolation without a new browser context per capture: a context costs a new renderer process
(~150 ms), so a context is shared by captures of one partition (the server passes the build and
the release: builds never share a context) whose context-level options are the same. Its
captures take one page in turn (``PooledContext``); ``CaptureSession.clean_up`` resets it.

With a ``policy`` (the server's workers), every request goes through capture.proxy, which
checks it against the capture network policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import time
from collections import OrderedDict
from typing import Any

from common import procs

from . import layout as layouts
from .config import CaptureConfig
from .failures import CaptureError, Failure, classify, first_line, refusal
from .proxy import PolicyProxy
from .session import CaptureLog, CaptureSession

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
# Contexts kept per lane (the oldest is closed).
MAX_CONTEXTS = 4


@dataclasses.dataclass(frozen=True)
class CaptureResult:
    png: bytes  # empty for a capture of the layout map only
    log: str
    http_status: int | None
    seconds: float
    # The page's layout map (capture.layout), gzip-compressed JSON; None when the config
    # turned it off.
    layout: bytes | None = None


def sandboxed() -> bool:
    """Whether Chromium started here keeps its sandbox (not as root)."""
    return os.geteuid() != 0


class PooledContext:
    """A browser context and the one page its captures take in turn: after each capture the
    page is reset (see ``CaptureSession.clean_up``) rather than closed, since a new page costs the
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


class Engine:
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
        self.contexts: OrderedDict[tuple, PooledContext] = OrderedDict()
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
        # there (and a capture worker's log says so). Production runs capture workers
        # unprivileged.
        sandbox = sandboxed()
        options: dict[str, Any] = {"args": args, "headless": True, "chromium_sandbox": sandbox}
        if self.executable:
            options["executable_path"] = self.executable
        try:
            self.browser = await self.playwright.chromium.launch(**options)
        except Exception as exc:  # seen here: Chromium dying of SIGSEGV at start, rarely
            logger.warning("Chromium did not start (%s); trying once more", first_line(exc))
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
        for pid in [process, *procs.descendants(process)]:
            with contextlib.suppress(ProcessLookupError):  # gone already
                os.kill(pid, signal.SIGKILL)

    async def context_for(self, config: CaptureConfig, partition: str, lane: int) -> PooledContext:
        key = (lane, partition, config.context_key())
        pooled = self.contexts.get(key)
        if pooled is not None:
            self.contexts.move_to_end(key)
            return pooled
        options = {
            "viewport": config.viewportSize,
            "reduced_motion": "reduce",
            "color_scheme": config.colorScheme,
            "device_scale_factor": config.deviceScaleFactor,
            "ignore_https_errors": config.ignoreHTTPSErrors,
            "service_workers": "block",
        }
        for option, value in (
            ("user_agent", config.userAgent),
            ("locale", config.locale),
            ("timezone_id", config.timezoneId),
        ):
            if value:
                options[option] = value
        if config.httpUserName is not None:
            # Answered to the run's own origin only: a redirect to, or an image from, another
            # origin that asks for a password never receives it.
            options["http_credentials"] = {
                "username": config.httpUserName,
                "password": config.httpPassword,
                "origin": config.origin(),
            }
        if self.browser is None:
            raise CaptureError("the browser is not running")
        context = await self.browser.new_context(**options)
        await context.add_init_script(layouts.INIT_SCRIPT)
        pooled = PooledContext(context)
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
                reason = f"the browser refused the config: {refusal(exc)}"
                raise CaptureError(reason, log.text(), permanent=True) from None
            await self.restart(generation)
            raise CaptureError(f"could not start the browser: {exc}", log.text()) from exc
        session = CaptureSession(
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
                reason = f"could not load {config.targetUrl}: {failure.detail}"
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
