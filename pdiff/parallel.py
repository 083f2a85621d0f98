"""Work split over the cores: the compiled passes of a diff (pdiff.metric, pdiff.pngio) release
the GIL, so threads of one process run them side by side.

One pool per process, made on first use (a Celery worker forks its children before any diff, and
a pool does not survive a fork, so a child makes its own), as large as the cores this process may
run on. On a busy host the threads only share what is free; alone, a diff takes about half the
time on two cores.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_line: ThreadPoolExecutor | None = None
_pool_pid = 0


def threads() -> int:
    """How many threads a pass is split into: the cores this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))


def _executor(line: bool = False) -> ThreadPoolExecutor:
    global _pool, _line, _pool_pid
    with _lock:
        if _pool is None or _line is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(threads(), thread_name_prefix="pdiff")
            _line = ThreadPoolExecutor(1, thread_name_prefix="pdiff-line")
            _pool_pid = os.getpid()
        return _line if line else _pool


def submit(function: Callable, *args) -> Future:
    """Run ``function(*args)`` on the pool (for work that overlaps with the caller's)."""
    return _executor().submit(function, *args)


def in_order(function: Callable, *args) -> Future:
    """Run ``function(*args)`` on the one thread that runs such work in the order given (a
    pass's bookkeeping behind its comparison); it may itself use ``run``."""
    return _executor(line=True).submit(function, *args)


def run(part: Callable[[int, int], None], count: int, min_part: int, step: int = 1) -> None:
    """Call ``part(lo, hi)`` over [0, count) cut into one range per thread (each a multiple of
    ``step`` long, the last excepted), or once on this thread when the work is under two
    ``min_part``s or there is one core. Returns when every part is done; a part's exception
    is raised here."""
    n = min(threads(), count // max(min_part, 1))
    if n <= 1:
        part(0, count)
        return
    size = -(-count // n // step) * step
    ranges = [(lo, min(lo + size, count)) for lo in range(0, count, size)]
    futures = [_executor().submit(part, lo, hi) for lo, hi in ranges[1:]]
    part(*ranges[0])
    _wait(futures)


def _wait(futures: Iterable[Future]) -> None:
    for future in futures:
        future.result()
