"""The one Celery app. Queues: capture (browser-bound), diff (CPU-bound), default (the rest)."""

import ctypes
import os

from celery import Celery
from celery.signals import worker_init
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dpxdt_site.settings")

app = Celery("dpxdt")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_queues=[
        Queue(name, Exchange("dpxdt", type="direct"), routing_key=name)
        for name in ("capture", "diff", "default")
    ],
    task_default_queue="default",
    task_default_exchange="dpxdt",
    task_default_routing_key="default",
    # Each task's queue, by name (Celery 5.7 deprecates the task's own queue attribute).
    task_routes={
        "dpxdt.capture.*": {"queue": "capture"},
        "dpxdt.pdiff.*": {"queue": "diff"},
        "dpxdt.releases.*": {"queue": "default"},
    },
    # No result backend: completion is recomputed from the database (releases.services).
    task_ignore_result=True,
    # A task is acknowledged only when it finished, and given back if its worker dies;
    # every task is safe to run twice, so this costs nothing but a repeat.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    task_serializer="json",
    accept_content=["json"],
)
app.autodiscover_tasks(["releases", "pdiff", "capture"])


# glibc's malloc constants (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4


@worker_init.connect
def keep_freed_memory_for_reuse(**kwargs):
    """Workers allocate and free arrays of tens to hundreds of MB per task (decoded
    screenshots, stitched stripes). glibc gives each such block fresh pages from mmap and
    returns them at free, so every task pays page faults for all of it again (measured here:
    six diffs of a 1280x12193 pair, 4.4 s with 1.6 s of system time, against 2.6 s and 0.2 s
    with this). Freed memory is kept for reuse instead, up to 1 GB. Set before the pool forks,
    so every pool process inherits it."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
