"""This host's processes, from Linux's /proc: who a process is (across restarts and pid reuse),
what runs below it, and the priority of what a thread starts. Used by the capture engine
(Chromium below its driver) and the scheduler (the worker process a lease names)."""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

# prctl(2) and capability(7) numbers (linux/prctl.h, linux/capability.h).
_PR_CAPBSET_DROP, _CAP_SYS_NICE = 24, 23


@functools.cache
def boot_id() -> str:
    """This host's boot id (Linux), the same for every process until the host restarts."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_identity(pid: int | None = None) -> str:
    """``boot id:pid:start time`` of a process of this host: no two processes share it, across
    restarts and pid reuse. Empty where /proc does not tell (not Linux) or the process is gone."""
    pid = pid or os.getpid()
    try:
        start = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""
    return f"{boot_id()}:{pid}:{start}" if boot_id() else ""


def process_gone(identity: str) -> bool:
    """Whether the process ``identity`` names surely runs no more on this host: this host was
    restarted since, or its pid is free or taken by another process. False when unsure."""
    parts = identity.split(":")
    if not boot_id() or len(parts) != 3 or not parts[1].isdigit():
        return False
    return parts[0] != boot_id() or process_identity(int(parts[1])) != identity


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``."""
    found, waiting = [], [pid]
    while waiting:
        parent = waiting.pop()
        children = []
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children += (task / "children").read_text().split()
            except OSError:
                continue
        found += [int(child) for child in children]
        waiting += [int(child) for child in children]
    return found


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
