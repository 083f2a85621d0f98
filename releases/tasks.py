import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

from . import services, webhooks

logger = logging.getLogger(__name__)
# A deadlock a database broke, a connection that dropped: the step is worth trying again.
DATABASE_ERRORS = (OperationalError, InterfaceError)

# Retries of a step whose storage or network failed; then the run fails with the reason.
TRANSIENT_RETRIES = 4


@shared_task(
    name="dpxdt.releases.sweep_stuck_runs",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=240,
    time_limit=300,
)
def sweep_stuck_runs():
    return services.sweep_stuck_runs()


@shared_task(
    name=webhooks.DELIVER_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=120,
    time_limit=150,
)
def deliver_webhook(self, delivery_id):
    """One attempt; a receiver that fails is tried again with backoff, then given up on."""
    try:
        return webhooks.deliver(delivery_id)
    except webhooks.DeliveryError as exc:
        attempts = settings.WEBHOOK_ATTEMPTS
        if self.request.retries + 1 >= attempts:
            webhooks.give_up(delivery_id, f"gave up after {attempts} attempts: {exc}")
            return "failed"
        raise self.retry(
            exc=exc,
            max_retries=attempts - 1,
            countdown=settings.WEBHOOK_RETRY_SECONDS * 2**self.request.retries,
        ) from exc


def run_step(task, run_id, *, label, time_limit, work, transient):
    """The policy every pipeline task shares: ``work()`` once; a ``transient`` error (storage
    or network) is retried with backoff (5 s, 10 s, 20 s, 40 s), giving its claim back so that
    one failure is counted once, by this budget, not also by the run's attempts; then the run
    fails with that error. The soft time limit fails the run too. A deterministic failure is
    the step's own business (it fails the run with its reason)."""
    try:
        return work()
    except (transient, *DATABASE_ERRORS) as exc:
        if task.request.retries >= TRANSIENT_RETRIES:
            services.fail_run(run_id, f"{label} failed after {TRANSIENT_RETRIES + 1} tries: {exc}")
            return "failed"
        try:
            services.give_back_claim(run_id, f"{label}: {exc}")
        except DATABASE_ERRORS as db_exc:  # the database itself is away: the retry is enough
            logger.warning("run %s: could not give the claim back: %s", run_id, db_exc)
        raise task.retry(
            exc=exc, countdown=min(5 * 2**task.request.retries, 300), max_retries=TRANSIENT_RETRIES
        ) from exc
    except SoftTimeLimitExceeded:
        services.fail_run(run_id, f"{label} took longer than {time_limit} s")
        return "failed"
