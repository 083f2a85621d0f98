from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_shutdown
from django.conf import settings

from . import services

MAX_RETRIES = 4


@shared_task(name="dpxdt.capture.screenshot", queue="capture", bind=True, acks_late=True,
             reject_on_worker_lost=True, max_retries=MAX_RETRIES,
             soft_time_limit=settings.CAPTURE_TIME_LIMIT_SECONDS,
             time_limit=settings.CAPTURE_TIME_LIMIT_SECONDS + 30)
def screenshot(self, run_id, side):
    try:
        return services.capture_run(run_id, side)
    except services.TransientError as exc:
        if self.request.retries >= MAX_RETRIES:
            services.fail(run_id, f"capture failed after {MAX_RETRIES + 1} tries: {exc}")
            return "failed"
        raise self.retry(exc=exc, countdown=min(5 * 2 ** self.request.retries, 300))
    except SoftTimeLimitExceeded:
        services.fail(run_id, f"capture took longer than {settings.CAPTURE_TIME_LIMIT_SECONDS} s")
        return "failed"


@worker_process_shutdown.connect
def close_browser(**kwargs):
    services.close_browser()
