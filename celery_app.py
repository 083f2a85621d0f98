"""The one Celery app. Queues: capture (browser-bound), diff (CPU-bound), default (the rest)."""

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dpxdt_site.settings")

app = Celery("dpxdt")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_queues=[Queue(name, Exchange("dpxdt", type="direct"), routing_key=name)
                 for name in ("capture", "diff", "default")],
    task_default_queue="default",
    task_default_exchange="dpxdt",
    task_default_routing_key="default",
    # Each task's queue, by name (Celery 5.7 deprecates the task's own queue attribute).
    task_routes={"dpxdt.capture.*": {"queue": "capture"}, "dpxdt.pdiff.*": {"queue": "diff"},
                 "dpxdt.releases.*": {"queue": "default"}},
    # No result backend: completion is recomputed from the database (releases.services).
    task_ignore_result=True,
    # A task is acknowledged only when it finished, and given back if its worker dies;
    # every task is safe to run twice, so this costs nothing but a repeat.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    beat_schedule={
        "sweep-stuck-runs": {"task": "dpxdt.releases.sweep_stuck_runs", "schedule": 60.0},
    },
    task_serializer="json",
    accept_content=["json"],
)
app.autodiscover_tasks(["releases", "pdiff", "capture"])
