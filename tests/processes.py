"""Command lines of the real processes tests and benchmarks start: a Celery worker of this
project and a throwaway Redis."""

import sys


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
