"""What a failed capture means: ``CaptureError`` (the reason a run fails with), and the one
place that reads Playwright's exceptions (``classify``). No Django here."""

from __future__ import annotations

import asyncio
import dataclasses
import re


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
        return Failure(Failure.TIMEOUT, first_line(exc))
    network = re.search(r"net::ERR_[A-Z_]+", message)
    if network:
        return Failure(Failure.NETWORK, network.group(0))
    if "Execution context was destroyed" in message:
        return Failure(Failure.NAVIGATED, first_line(exc))
    if "has been closed" in message or "Target closed" in message:
        return Failure(Failure.CLOSED, first_line(exc))
    return Failure(Failure.OTHER, first_line(exc))


def first_line(exc) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def refusal(exc) -> str:
    """The browser's reason for refusing a value, without Playwright's call and protocol
    prefixes ("BrowserContext.new_page: Protocol error (Emulation...): Invalid ...")."""
    line = first_line(exc)
    line = re.sub(r"^[A-Za-z]+\.[a-z_]+: ", "", line)
    return re.sub(r"^Protocol error \([^)]*\): ", "", line)
