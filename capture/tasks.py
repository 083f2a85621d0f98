from celery import shared_task
from celery.signals import worker_process_shutdown
from django.conf import settings

from releases.tasks import run_step

from . import services

LIMIT = settings.CAPTURE_TIME_LIMIT_SECONDS


@shared_task(
    name="dpxdt.capture.screenshot",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=LIMIT,
    time_limit=LIMIT + 30,
)
def screenshot(self, run_id, side):
    return run_step(
        self,
        run_id,
        label="capture",
        time_limit=LIMIT,
        work=lambda: services.capture_run(run_id, side),
        transient=services.TransientError,
    )


@worker_process_shutdown.connect
def close_browser(**kwargs):
    services.close_browser()
