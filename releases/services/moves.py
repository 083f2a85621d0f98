"""How a locked run moves: its facts read for ``runstate``, the status ``runstate`` gives taken
through the model's ``transition_to()``, and what comes with a move (fields saved, work sent).

Every status a run takes comes from ``runstate.next_status`` by way of ``target`` or ``move``.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from .. import access, runstate
from ..models import Run
from . import scheduling

S = Run.Status
SYSTEM = access.Caller()


def facts_of(
    run: Run,
    changed: set[str] | frozenset[str] = frozenset(),
    *,
    diff_log_reported: bool = False,
    diff_outcome: str = "",
) -> runstate.Facts:
    return runstate.Facts(
        status=run.status,
        has_image=bool(run.image_id),
        has_ref_image=bool(run.ref_image_id),
        identical_images=bool(run.image_id) and run.image_id == run.ref_image_id,
        has_diff_image=bool(run.diff_image_id),
        expects_reference=bool(run.ref_config_id or run.ref_url),
        inputs_changed=bool({"image", "ref_image"} & changed),
        diff_log_reported=diff_log_reported,
        captures_pending=bool(scheduling.pending_captures(run)),
        diff_outcome=diff_outcome,
    )


def target(run: Run, event: str, changed=frozenset(), **facts) -> str:
    """The status ``runstate`` gives the locked run after ``event``."""
    return runstate.next_status(facts_of(run, changed, **facts), event)


def move(
    run: Run, event: str, changed: set[str], caller: access.Caller, message="", **facts
) -> str:
    """After a report or a capture: save a locked run's changed fields and move it where
    ``runstate`` says (its diff sent when it needs one). Returns the status."""
    goal = target(run, event, changed, **facts)
    if run.last_error:  # a step finished: its earlier transient errors are history
        run.last_error = ""
        changed.add("last_error")
    identical = bool(run.image_id) and run.image_id == run.ref_image_id
    if goal == S.DIFF_NOT_FOUND and identical and (run.distortion, run.changed_pixels) != (0.0, 0):
        run.distortion, run.changed_pixels = 0.0, 0  # identical bytes: nothing changed
        changed.update({"distortion", "changed_pixels"})
    if goal == S.NEEDS_DIFF:
        run.pipeline_attempts = 0
        changed.add("pipeline_attempts")
    moved = goal != run.status
    if moved:
        run.transition_to(goal, fields=sorted(changed), message=message, **caller.audit())
    elif changed:
        run.save(update_fields=sorted(changed | {"modified"}))
    if goal == S.NEEDS_DIFF and (moved or {"image", "ref_image"} & changed):
        scheduling.want_work(run)  # its diff takes its turn
    elif moved:
        scheduling.dispatch_after_commit(run.release.build_id)  # its slot may be free
    return goal


def set_artifacts(run: Run, artifacts: dict) -> set[str]:
    """Set a locked run's artifact fields; new inputs make what was made of the old ones (the
    diff, its causes, the second look) stale: cleared, unless this report brings it."""
    changed: set[str] = set()
    if any(
        getattr(run, f"{field}_id") != artifacts[field].sha1
        for field in ("image", "ref_image")
        if field in artifacts
    ):
        changed |= run.reset_outputs()
    for field, artifact in artifacts.items():
        if getattr(run, f"{field}_id") != artifact.sha1:
            setattr(run, field, artifact)
            changed.add(field)
    return changed


def set_failure(run: Run, failure: str, changed: set[str]) -> None:
    """Record why the run failed; new inputs without a failure clear an old reason."""
    if failure and run.failure_reason != failure:
        run.failure_reason = failure
        changed.add("failure_reason")
    elif not failure and run.failure_reason and changed & {"image", "ref_image"}:
        run.failure_reason = ""
        changed.add("failure_reason")


def fail(
    run: Run,
    reason: str,
    caller: access.Caller = SYSTEM,
    event: str = runstate.FAILED_EVENT,
    *,
    dispatch: bool = True,
) -> bool:
    """Fail a locked run with a readable reason (``CANCELLED``: only if it is pending); its
    build's next work may take its slot (``dispatch``: sent after commit; a caller failing
    many runs at once sends it once itself). Whether it moved."""
    goal = target(run, event)
    if goal == run.status:
        return False
    run.failure_reason = reason
    run.transition_to(goal, message=reason, fields=["failure_reason"], **caller.audit())
    if dispatch:
        scheduling.dispatch_after_commit(run.release.build_id)
    return True


# --- attempts -------------------------------------------------------------------------------


def attempt_limit(run: Run, step: str) -> int:
    """How many claims of ``step`` (a capture side, or "diff") the run may have on its current
    inputs: ``MAX_PIPELINE_ATTEMPTS`` per step, the captures of a pair sharing one budget of
    that many per side still to capture. Each claim's transient errors have their own budget
    (``TRANSIENT_RETRIES``), and each capture its tries of the page (``CAPTURE_ATTEMPTS``)."""
    if step == "diff":
        return settings.MAX_PIPELINE_ATTEMPTS
    return settings.MAX_PIPELINE_ATTEMPTS * max(1, len(scheduling.pending_captures(run)))


def count_attempt(run: Run, claim: scheduling.Step) -> None:
    """A claimed step is an attempt at the run, unless it is a retry after a transient error."""
    if not claim.retry:
        Run.objects.filter(pk=run.pk).update(
            pipeline_attempts=F("pipeline_attempts") + 1, modified=timezone.now()
        )


def out_of_attempts(run: Run, step: str) -> str:
    what = "diff" if step == "diff" else "capture"
    reason = f"{what} did not finish after {run.pipeline_attempts} attempts"
    return f"{reason}; the last error: {run.last_error}" if run.last_error else reason
