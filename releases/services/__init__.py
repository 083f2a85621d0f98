"""Every state change of builds, releases and runs happens here, one module per concern:

- ``lifecycle``: a release from creation to review, and the baseline a run is compared with;
- ``reports``: what clients say about runs (``report_run``, ``request_run``);
- ``steps``: the workers' steps (a capture or a diff claimed as one attempt, its result
  recorded, the second look at a page that differed);
- ``recovery``: failures and lost work (a run failed with its reason, the sweeper);
- ``moves``: how a locked run moves (``runstate`` gives every status), attempt limits;
- ``scheduling``: which work goes to the workers when, and who holds it (leases);
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
from .errors import Rejected
from .lifecycle import (
    baseline_run,
    create_release,
    maybe_finish_release,
    on_branch,
    runs_done,
)
from .moves import SYSTEM, S
from .owners import cancel_invitation, claim_invitations, invite_owner, remove_owner
from .recovery import fail_run, note_transient_error, sweep_stuck_runs
from .reports import Report, report_run, request_run
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
from .scheduling import SIDES, Step, pending_captures
from .steps import (
    CaptureClaim,
    Recheck,
    claim_for_capture,
    claim_for_diff,
    record_capture,
    record_diff,
    request_recapture,
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
    "Recheck",
    "Rejected",
    "Report",
    "S",
    "Step",
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
    "runs_done",
    "store_artifact_for",
    "store_thumbnail_for",
    "sweep_stuck_runs",
    "update_settings",
    "upload",
    "wants_layout_recheck",
    "wants_recapture",
]
