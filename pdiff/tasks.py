from celery import shared_task
from django.conf import settings

from releases.tasks import run_step

from . import services

LIMIT = settings.DIFF_TIME_LIMIT_SECONDS


@shared_task(
    name="dpxdt.pdiff.diff_run",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=LIMIT,
    time_limit=LIMIT + 30,
)
def diff_run(self, run_id):
    return run_step(
        self,
        run_id,
        label="diff",
        time_limit=LIMIT,
        work=lambda step: services.diff_run(run_id, step),
        transient=services.TransientError,
    )
