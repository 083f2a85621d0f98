"""Which work goes to the workers when, and who holds it.

Work is sent per build, in turns: at most ``settings.BUILD_CAPTURES_IN_FLIGHT`` runs of a build
have captures sent and unfinished (and ``BUILD_DIFFS_IN_FLIGHT`` diffs); the rest wait in the
database, oldest first, and are sent as earlier ones finish. The broker so never holds more
than a few messages per build, and a small release is not queued behind another build's
10,000 pages: the workers take the builds' work in turn.

A worker holds a step it works on with a ``Lease`` that it renews while it works. The sweeper
hands a step whose lease expired (the worker died) to another worker, sends again work the
broker lost (its sentinel is gone), and sends what waits for its turn.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import Q
from django.utils import timezone

from common import procs

from .. import pipeline
from ..models import Build, Lease, Release, Run

logger = logging.getLogger(__name__)

S = Run.Status
OPEN = (Release.Status.RECEIVING, Release.Status.PROCESSING)

SIDES = {
    "run": ("url", "config", "image", "log"),
    "ref": ("ref_url", "ref_config", "ref_image", "ref_log"),
    # The same page again, when the first capture differed from the baseline.
    "recapture": ("url", "config", "recapture_image", "recapture_log"),
}
# Where each side's layout map goes.
LAYOUT_FIELDS = {"run": "layout", "ref": "ref_layout", "recapture": "recapture_layout"}

# A run waiting in data_pending has something to capture (else it waits for a client).
CAPTURE_WANTED = (
    Q(config__isnull=False, image__isnull=True)
    | Q(ref_config__isnull=False, ref_image__isnull=True)
    | Q(recapture=Run.Recapture.WANTED, recapture_image__isnull=True)
    | Q(recapture=Run.Recapture.LAYOUT, recapture_layout__isnull=True)
)
WORK_WANTED = Q(status=S.NEEDS_DIFF) | (Q(status=S.DATA_PENDING) & CAPTURE_WANTED)


def pending_captures(run: Run) -> list[str]:
    """Sides of a run that have a config to capture and no image yet (a recapture only when
    the diff asked for one: a screenshot, or the layout map alone)."""
    sides = [
        side
        for side, (_, config, image, _) in SIDES.items()
        if side != "recapture" and getattr(run, f"{config}_id") and not getattr(run, f"{image}_id")
    ]
    if run.config_id and (
        (run.recapture == Run.Recapture.WANTED and not run.recapture_image_id)
        or (run.recapture == Run.Recapture.LAYOUT and not run.recapture_layout_id)
    ):
        sides.append("recapture")
    return sides


def recapture_possible(run: Run, recaptures: int) -> bool:
    """Whether a difference the run's diff finds would first send the page to be captured again
    (``recaptures``: the build's setting): the run was captured here (it has a config and a
    URL) and no screenshot was taken again yet (a layout recheck may have been). Such a diff
    is a first look, not the verdict."""
    return bool(
        run.config_id
        and run.url
        and recaptures
        and run.recapture in (Run.Recapture.NONE, Run.Recapture.LAYOUT_DONE)
    )


def layout_recheck_possible(run: Run, recaptures: int, *, with_map: bool = False) -> bool:
    """Whether a difference the page's elements explain would first have the page loaded again
    for its layout map alone (the cheaper check for noise): the run was captured here with
    layout maps on both sides (``with_map``: the capture being recorded brings the run's),
    and nothing was taken again yet."""
    return bool(
        run.config_id
        and run.url
        and recaptures
        and (run.layout_id or with_map)
        and run.ref_layout_id
        and run.recapture == Run.Recapture.NONE
    )


# --- turns ----------------------------------------------------------------------------------


def want_work(run: Run) -> None:
    """The run's step is over, or its inputs are new, and it waits for its next step (its
    captures or its diff): it takes its turn among its build's work once the transaction
    commits. Work still held for its old inputs is let go (its result will be dropped)."""
    run.queued_at = None
    Run.objects.filter(pk=run.pk).update(queued_at=None)
    Lease.objects.filter(run=run).delete()
    dispatch_after_commit(run.release.build_id)


def dispatch_after_commit(build_id: int) -> None:
    """A slot of the build's may be free (a step finished): send its next work after commit."""
    transaction.on_commit(lambda: dispatch(build_id))


def dispatch(build_id: int) -> int:
    """Send the build's waiting work, oldest run first, up to its limits in flight. Returns how
    many runs were sent. A send the broker refuses leaves the run waiting for the sweeper."""
    now = timezone.now()
    batch = []
    if not any(
        room > 0 and step.filter(queued_at__isnull=True).exists() for step, room in _rooms(build_id)
    ):
        return 0  # the usual case in a big release: no write, no transaction to commit
    with transaction.atomic():
        build = Build.objects.select_for_update().filter(pk=build_id).first()
        if build is None:
            return 0  # serialises the build's dispatchers, so its limits hold
        for step, room in _rooms(build_id):
            if room <= 0:
                continue
            chosen = list(step.filter(queued_at__isnull=True).order_by("id")[:room])
            Run.objects.filter(pk__in=[run.pk for run in chosen]).update(queued_at=now)
            batch += chosen
    for run in batch:
        if run.status == S.NEEDS_DIFF:
            sent = pipeline.send_diff(run.pk, recapture_possible(run, build.recaptures))
        else:
            sent = pipeline.send_captures(run.pk, pending_captures(run))
        if not sent:
            Run.objects.filter(pk=run.pk, queued_at=now).update(queued_at=None)
    return len(batch)


def _rooms(build_id: int):
    """(the build's runs waiting for a step, free slots for that step), captures then diffs."""
    runs = Run.objects.filter(release__build_id=build_id, release__status__in=OPEN)
    for status, wanted, limit in (
        (S.DATA_PENDING, CAPTURE_WANTED, settings.BUILD_CAPTURES_IN_FLIGHT),
        (S.NEEDS_DIFF, Q(), settings.BUILD_DIFFS_IN_FLIGHT),
    ):
        step = runs.filter(wanted, status=status)
        yield step, limit - step.filter(queued_at__isnull=False).count()


def builds_waiting() -> list[int]:
    """Builds with work waiting for its turn."""
    waiting = Run.objects.filter(WORK_WANTED, release__status__in=OPEN, queued_at__isnull=True)
    return sorted(set(waiting.values_list("release__build_id", flat=True)))


def unheld(runs, now):
    """Those of ``runs`` no worker holds a live lease on."""
    return runs.exclude(leases__until__gte=now)


# --- leases ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Step:
    """Who claims a step of a run, and whether the claim is a retry after a transient error
    (storage, network, the database): a retry's claim is not another attempt at the run, since
    the delivery it retries was counted and the retries have their own budget
    (``settings.TRANSIENT_RETRIES``). The pipeline's tasks get theirs from ``holding``."""

    holder: str
    retry: bool = False

    @classmethod
    def alone(cls) -> Step:
        """A claim made outside a task (a test, a shell): held by this call alone."""
        return cls(f"{os.getpid()} {uuid.uuid4().hex}")


# The worker process whose pool runs the tasks here: set when a Celery worker starts, before its
# pool forks. Every lease a task takes names it, so that the worker, restarted under the same
# name after it was killed, knows which leases its dead predecessor left and frees them at once
# instead of leaving them to expire.
_worker_process = ""


def remember_worker_process() -> None:
    global _worker_process
    _worker_process = procs.process_identity()


def worker_process() -> str:
    """The identity of the worker process whose pool runs this (this process, outside one)."""
    return _worker_process or procs.process_identity()


def task_holder(nodename: str, task_id: str) -> str:
    """The holder a task's leases name: its worker (nodename), its worker process, the task."""
    return f"{nodename} {worker_process() or '-'} {task_id}"


def free_leases_of_gone_predecessors(nodename: str) -> int:
    """Expire now the leases held under ``nodename`` by a worker process that is gone (this
    worker's earlier life, killed with its tasks), so that the next sweep hands their steps
    out again. Returns how many. A process still running (two workers given the same name by
    mistake) and leases that name no process are left to expire as usual."""
    mine = worker_process()
    gone = [
        pk
        for pk, holder in Lease.objects.filter(holder__startswith=f"{nodename} ").values_list(
            "pk", "holder"
        )
        if len(parts := holder.split(" ")) == 3
        and parts[1] != mine
        and procs.process_gone(parts[1])
    ]
    return Lease.objects.filter(pk__in=gone).update(until=timezone.now() - timedelta(seconds=1))


def take_lease(run: Run, step: str, holder: str) -> bool:
    """``holder`` holds ``step`` of a locked run, unless another does (its lease is live)."""
    now = timezone.now()
    lease = Lease.objects.filter(run=run, step=step).first()
    if lease is not None and lease.until >= now and lease.holder != holder:
        logger.info("run %s: %s is held by %s; not taken", run.pk, step, lease.holder)
        return False
    Lease.objects.update_or_create(
        run=run,
        step=step,
        defaults={"holder": holder, "until": now + timedelta(seconds=settings.LEASE_SECONDS)},
    )
    return True


def renew_leases(holder: str) -> int:
    until = timezone.now() + timedelta(seconds=settings.LEASE_SECONDS)
    return Lease.objects.filter(holder=holder).update(until=until)


@contextlib.contextmanager
def holding(holder: str, *, retry: bool = False, renew_every: float | None = None):
    """The ``Step`` that claims made inside are held by: its leases are renewed every third of
    the lease by a thread while the block runs, and let go when it ends, however it ends.
    ``retry``: the block is a retry after a transient error (``Step.retry``)."""
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew_until,
        args=(holder, stop, renew_every or settings.LEASE_SECONDS / 3),
        name=f"lease {holder}",
        daemon=True,
    )
    renewer.start()
    try:
        yield Step(holder, retry)
    finally:
        stop.set()
        renewer.join()
        try:
            Lease.objects.filter(holder=holder).delete()
        except DatabaseError as exc:  # the step's own error says more; the lease will expire
            logger.warning("could not let go of the leases of %s: %s", holder, exc)


def _renew_until(holder: str, stop: threading.Event, every: float) -> None:
    try:
        while not stop.wait(every):
            try:
                renew_leases(holder)
            except DatabaseError as exc:  # the database is away: the next try may do
                logger.warning("could not renew the leases of %s: %s", holder, exc)
                connections.close_all()
    finally:
        connections.close_all()  # this thread's own connections
