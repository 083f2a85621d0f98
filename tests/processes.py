"""Command lines of the real processes tests and benchmarks start: a Celery worker of this
project, a throwaway Redis, a plain Chromium."""

import sys
from pathlib import Path

# Debian's Chromium as plain Playwright would launch it on this machine (no browser download, no
# sandbox as root, nothing reaching the internet): the reference the tests and benchmarks
# measure the capture engine against, or render fixtures with.
PLAIN_CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def celery_worker_command(queues: str, concurrency: int = 1, *options: str) -> list[str]:
    """``celery worker`` on ``queues`` (comma-separated) with ``concurrency`` pool processes."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "celery_app",
        "worker",
        "-Q",
        queues,
        "-c",
        str(concurrency),
        *options,
    ]


def redis_server_command(port: int, folder) -> list[str]:
    """A Redis on 127.0.0.1:``port`` that keeps nothing on disk (restarting it loses all)."""
    return [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(folder),
    ]


def stat_fields(stat: str) -> list[str]:
    """The fields of a /proc stat file's text after the command name (which may hold spaces):
    [0] is the state (stat's 3rd field), [16] the niceness (its 19th)."""
    return stat.rsplit(")", 1)[1].split()


def process_alive(pid: int) -> bool:
    """Whether the process runs (a zombie, killed and not yet reaped, does not)."""
    try:
        return stat_fields(Path(f"/proc/{pid}/stat").read_text())[0] != "Z"
    except OSError:
        return False


def thread_niceness(pids) -> list[tuple[str, str, int]]:
    """(program, thread name, niceness) of every thread of the processes ``pids`` (Linux /proc;
    a process or thread that ended meanwhile is left out)."""
    found = []
    for pid in pids:
        try:
            program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
            threads = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for thread in threads:
            try:
                stat = (thread / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            found.append((Path(program.split(" ")[0]).name, name, int(stat_fields(stat)[16])))
    return found
