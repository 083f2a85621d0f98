"""Every state change of builds, releases and runs happens here, one module per concern:

- ``runs``: runs and the pipeline's state (releases from creation to review, what clients
  report, captures and diffs claimed and recorded, failures, the sweeper);
- ``review``: human review (approve, reject, retry, mark, cancel);
- ``builds``: builds, uploads, settings and API keys;
- ``owners``: owners and invitations;
- ``retention``: old releases collected, artifacts nothing needs deleted.

API views and tasks call these functions; they decide *when* a release or run moves, and the
models' ``transition_to()`` checks that the move is legal. Work for the workers is enqueued
through ``releases.pipeline`` and only after the transaction commits. Callers use the names
below (``from releases import services``; ``services.report_run(...)``).
"""

from . import retention
from .builds import (
    create_api_key,
    create_build,
    label_of,
    revoke_api_key,
    store_artifact_for,
    store_thumbnail_for,
    update_settings,
    upload,
)
from .owners import cancel_invitation, claim_invitations, invite_owner, remove_owner
from .review import (
    CauseGroup,
    approve_all,
    approve_group,
    approve_run,
    cancel_release,
    cause_groups,
    mark_release,
    pin_release,
    reject_run,
    retry_failed,
)
from .runs import (
    SIDES,
    SYSTEM,
    CaptureClaim,
    Rejected,
    Report,
    S,
    baseline_run,
    claim_for_capture,
    claim_for_diff,
    create_release,
    fail_run,
    maybe_finish_release,
    note_transient_error,
    on_branch,
    pending_captures,
    record_capture,
    record_diff,
    report_run,
    request_recapture,
    request_run,
    run_counts,
    runs_done,
    sweep_stuck_runs,
    wants_layout_recheck,
    wants_recapture,
)

__all__ = [
    "CauseGroup",
    "approve_group",
    "cause_groups",
    "SIDES",
    "SYSTEM",
    "CaptureClaim",
    "Rejected",
    "Report",
    "S",
    "approve_all",
    "approve_run",
    "baseline_run",
    "on_branch",
    "cancel_invitation",
    "cancel_release",
    "claim_for_capture",
    "claim_for_diff",
    "claim_invitations",
    "create_api_key",
    "create_build",
    "create_release",
    "fail_run",
    "note_transient_error",
    "invite_owner",
    "label_of",
    "mark_release",
    "pin_release",
    "retention",
    "maybe_finish_release",
    "pending_captures",
    "record_capture",
    "record_diff",
    "reject_run",
    "remove_owner",
    "report_run",
    "request_recapture",
    "request_run",
    "retry_failed",
    "revoke_api_key",
    "run_counts",
    "runs_done",
    "store_artifact_for",
    "store_thumbnail_for",
    "sweep_stuck_runs",
    "update_settings",
    "upload",
    "wants_layout_recheck",
    "wants_recapture",
]
