from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from . import services

MAX_RETRIES = 4


@shared_task(name="dpxdt.pdiff.diff_run", queue="diff", bind=True, acks_late=True,
             reject_on_worker_lost=True, max_retries=MAX_RETRIES,
             soft_time_limit=settings.DIFF_TIME_LIMIT_SECONDS,
             time_limit=settings.DIFF_TIME_LIMIT_SECONDS + 30)
def diff_run(self, run_id):
    try:
        return services.diff_run(run_id)
    except services.TransientError as exc:
        if self.request.retries >= MAX_RETRIES:
            services.fail(run_id, f"diff failed after {MAX_RETRIES + 1} tries: {exc}")
            return "failed"
        raise self.retry(exc=exc, countdown=min(5 * 2 ** self.request.retries, 300))
    except SoftTimeLimitExceeded:
        services.fail(run_id, f"diff took longer than {settings.DIFF_TIME_LIMIT_SECONDS} s")
        return "failed"
