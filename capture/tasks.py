import logging

from celery import shared_task
from celery.signals import worker_process_shutdown, worker_ready
from django.conf import settings
from django.db import DatabaseError, connections

from releases import webhooks
from releases.tasks import run_step

from . import outbound, services

logger = logging.getLogger(__name__)
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
        work=lambda step: services.capture_run(run_id, side, step),
        transient=services.TransientError,
    )


@shared_task(
    name=webhooks.DELIVER_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=120,
    time_limit=150,
)
def deliver_webhook(self, delivery_id):
    """One attempt; a receiver that fails is tried again with backoff, then given up on. The
    request goes through the webhook network policy, to the address it checked."""
    try:
        return webhooks.deliver(delivery_id, send_webhook)
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


def send_webhook(url: str, body: bytes, headers: dict) -> int:
    try:
        return outbound.post(
            services.network_policy("webhook"), url, body, headers, settings.WEBHOOK_TIMEOUT_SECONDS
        )
    except outbound.OutboundError as exc:
        raise webhooks.SendFailed(exc.kind, exc.reason) from None


@worker_ready.connect
def warn_if_self_unknown(sender, **kwargs):
    """A capture worker that cannot tell the server's own address says so as it starts."""
    if "capture" not in sender.app.amqp.queues.consume_from:
        return
    try:
        services.warn_if_self_unknown()
    except DatabaseError as exc:
        logger.warning("could not read the web servers' recorded addresses: %s", exc)
    finally:
        connections.close_all()  # the pool's processes have their own


@worker_process_shutdown.connect
def close_browser(**kwargs):
    services.close_browser()
