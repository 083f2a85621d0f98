"""When steps fail or are lost: a transient error noted, a run failed with its reason, and the
sweeper that hands lost work to the workers again."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import pipeline
from ..models import Lease, Run
from . import lifecycle, moves, scheduling
from .scheduling import pending_captures

logger = logging.getLogger(__name__)

S = Run.Status


def note_transient_error(run_id: int, error: str) -> None:
    """A step hit a transient error and will be retried (a retry does not count against the
    run's attempts: ``scheduling.Step.retry``): the error is kept as the reason to give should
    the run run out of attempts after all."""
    Run.objects.filter(pk=run_id).update(last_error=error[:2000], modified=timezone.now())


def fail_run(run_id: int, reason: str) -> None:
    """End a pending run as failed with a readable reason; the release can then finish."""
    with transaction.atomic():
        run = Run.locked(run_id, status__in=Run.PENDING)
        if run is None:
            return
        moves.fail(run, reason)
    lifecycle.maybe_finish_release(run.release_id)


def _lost_runs(now) -> set[int]:
    """Runs whose work was lost: leases expired, or sent and never taken (see below)."""
    lost: set[int] = set()
    expired = Lease.objects.filter(until__lt=now)
    lost.update(expired.values_list("run_id", flat=True))
    expired.delete()
    queued = Run.objects.filter(status__in=Run.PENDING, queued_at__isnull=False)
    try:
        broker_lost = pipeline.broker_lost_messages()
    except pipeline.BROKER_ERRORS as exc:
        logger.warning("sweeper: the broker is unreachable (%s); checking it next time", exc)
        broker_lost = False
    if broker_lost:
        in_flight = scheduling.unheld(queued, now).count()
        if in_flight:  # else nothing was lost: a first start, or a broker restarted idle
            logger.warning(
                "the broker lost its messages (its sentinel is gone): the work of %d runs "
                "sent to it is sent again",
                in_flight,
            )
    stale = (
        queued
        if broker_lost
        else queued.filter(queued_at__lt=now - timedelta(seconds=settings.STUCK_RUN_SECONDS))
    )
    lost.update(scheduling.unheld(stale, now).values_list("id", flat=True)[:10000])
    return lost


def _hand_out_again(run_id: int) -> str:
    """A lost run's work goes back to its turn ("requeued"), or the run, out of attempts,
    fails ("failed"); "" if it no longer waits for a worker."""
    with transaction.atomic():
        run = Run.locked(run_id, status__in=Run.PENDING, release__status__in=scheduling.OPEN)
        if run is None:
            return ""
        sides = pending_captures(run) if run.status == S.DATA_PENDING else []
        if run.status == S.DATA_PENDING and not sides:
            return ""  # waiting for a client's report_run, not for a worker
        step = sides[0] if sides else "diff"
        if run.pipeline_attempts >= moves.attempt_limit(run, step):
            moves.fail(run, moves.out_of_attempts(run, step))
            outcome = "failed"
        else:
            Run.objects.filter(pk=run.pk).update(queued_at=None)
            return "requeued"
    lifecycle.maybe_finish_release(run.release_id)
    return outcome


def sweep_stuck_runs(now=None) -> dict[str, int]:
    """Hand work that was lost to the workers again, and send work waiting for its turn:

    - steps whose lease expired (their worker died: killed, out of memory, its host gone);
    - all work sent and not taken, when the broker lost its messages (a restart);
    - work sent more than ``STUCK_RUN_SECONDS`` ago that no worker holds (a message lost
      some other way), the last resort.

    A run out of attempts fails instead. Runs every ``SWEEP_SECONDS`` (Celery beat)."""
    outcomes = [_hand_out_again(run_id) for run_id in sorted(_lost_runs(now or timezone.now()))]
    requeued, failed = outcomes.count("requeued"), outcomes.count("failed")
    sent = sum(scheduling.dispatch(build_id) for build_id in scheduling.builds_waiting())
    if requeued or failed:
        logger.warning(
            "sweeper: %d runs lost their work and were sent again, %d failed", requeued, failed
        )
    return {"requeued": requeued, "failed": failed, "sent": sent}
