"""A run's next status: one pure function of what the run holds and what just happened.

No Django here, so the rule reads (and is tested) as a table. ``releases.services.runs`` builds
the facts from a locked row, calls ``next_status`` and makes the move through the model's
``transition_to()``, which checks it against the transition table.
"""

from __future__ import annotations

import dataclasses

# The statuses (the values of releases.models.Run.Status; a test keeps the two equal).
DATA_PENDING = "data_pending"
NEEDS_DIFF = "needs_diff"
DIFF_FOUND = "diff_found"
DIFF_APPROVED = "diff_approved"
DIFF_NOT_FOUND = "diff_not_found"
NO_DIFF_NEEDED = "no_diff_needed"
FLAKY = "flaky"
FAILED = "failed"
STATUSES = (
    DATA_PENDING,
    NEEDS_DIFF,
    DIFF_FOUND,
    DIFF_APPROVED,
    DIFF_NOT_FOUND,
    NO_DIFF_NEEDED,
    FLAKY,
    FAILED,
)
# A verdict stays while the inputs stay.
SETTLED = (DIFF_FOUND, DIFF_NOT_FOUND, DIFF_APPROVED, FLAKY)

# What just happened to the run.
REPORTED = "reported"  # a client reported data (report_run)
CAPTURED = "captured"  # a capture worker recorded a screenshot
FAILED_EVENT = "failed"  # a client or a worker said the run failed
EVENTS = (REPORTED, CAPTURED, FAILED_EVENT)


@dataclasses.dataclass(frozen=True)
class Facts:
    status: str
    has_image: bool  # the new page's screenshot
    has_ref_image: bool  # the reference's
    identical_images: bool  # the same bytes on both sides
    has_diff_image: bool  # a diff the client sent
    expects_reference: bool  # a reference to capture (ref_url or ref_config)
    inputs_changed: bool = False  # this event brought a new image on either side
    diff_log_reported: bool = False  # this event brought the client's own diff log


def next_status(facts: Facts, event: str) -> str:
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    if event == FAILED_EVENT:
        return FAILED
    if facts.has_diff_image:  # the client diffed and found something
        return facts.status if facts.status == DIFF_APPROVED else DIFF_FOUND
    if facts.has_image and facts.has_ref_image:
        if facts.diff_log_reported:  # the client diffed and found nothing
            return DIFF_NOT_FOUND
        if facts.status in SETTLED and not facts.inputs_changed:
            return facts.status
        if facts.identical_images:  # nothing to decode
            return DIFF_NOT_FOUND
        return NEEDS_DIFF
    if facts.has_image and not facts.expects_reference:
        return NO_DIFF_NEEDED  # nothing to compare with: this run is a baseline
    return facts.status
