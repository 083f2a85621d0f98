import logging
import uuid

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_init, worker_ready
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections

from . import pipeline, services
from .services import retention, scheduling

logger = logging.getLogger(__name__)
# A deadlock a database broke, a connection that dropped: the step is worth trying again.
DATABASE_ERRORS = (OperationalError, InterfaceError)


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
    name="dpxdt.releases.collect_old_releases",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=3300,
    time_limit=3600,
)
def collect_old_releases():
    """Retention, daily: every build's old releases and the artifacts nothing needs."""
    return [vars(each) | {"release_ids": len(each.release_ids)} for each in retention.collect_all()]


@worker_init.connect
def remember_worker_process(**kwargs):
    scheduling.remember_worker_process()  # before the pool forks: its processes inherit it


@worker_ready.connect
def free_what_a_killed_predecessor_held(sender, **kwargs):
    """A worker restarted after it was killed (out of memory, its host or container restarted)
    frees the steps its earlier process held and sweeps at once: they go back to the workers
    now, not when their leases expire (``LEASE_SECONDS``) and the sweeper next runs."""
    try:
        freed = scheduling.free_leases_of_gone_predecessors(sender.hostname)
        if freed:
            logger.warning(
                "%s: %d steps held by this worker's earlier process, which is gone, are "
                "handed out again",
                sender.hostname,
                freed,
            )
            sweep_stuck_runs.apply_async(expires=float(settings.SWEEP_SECONDS))
    except (DatabaseError, *pipeline.BROKER_ERRORS) as exc:  # they expire as usual
        logger.warning(
            "%s: could not free the steps of its earlier process: %s", sender.hostname, exc
        )
    finally:
        connections.close_all()  # the pool's processes have their own


def run_step(task, run_id, *, label, time_limit, work, transient):
    """The policy every pipeline task shares: ``work(step)`` once, where ``step`` (a
    ``scheduling.Step``) says who claims the run's step (this task, holding it with a lease it
    renews as it works) and whether this is a retry; a ``transient`` error (storage, network,
    the database) is retried with backoff (5 s, 10 s, 20 s, 40 s, ...) up to
    ``settings.TRANSIENT_RETRIES`` times; the retries are not further attempts at the run (one
    failure is counted once, by this budget), and the error is noted as the run's last; then
    the run fails with that error. The soft time limit fails the run too. A deterministic
    failure is the step's own business (it fails the run with its reason)."""
    request = task.request
    holder = scheduling.task_holder(
        getattr(request, "hostname", None) or "local",
        getattr(request, "id", None) or uuid.uuid4().hex,
    )
    retries = settings.TRANSIENT_RETRIES
    try:
        with scheduling.holding(holder, retry=task.request.retries > 0) as step:
            return work(step)
    except (transient, *DATABASE_ERRORS) as exc:
        if task.request.retries >= retries:
            services.fail_run(run_id, f"{label} failed after {retries + 1} tries: {exc}")
            return "failed"
        try:
            services.note_transient_error(run_id, f"{label}: {exc}")
        except DATABASE_ERRORS as db_exc:  # the database itself is away: the retry is enough
            logger.warning("run %s: could not note the error: %s", run_id, db_exc)
        raise task.retry(
            exc=exc, countdown=min(5 * 2**task.request.retries, 300), max_retries=retries
        ) from exc
    except SoftTimeLimitExceeded:
        services.fail_run(run_id, f"{label} took longer than {time_limit} s")
        return "failed"
