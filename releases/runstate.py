"""A run's next status: one pure function of what the run holds and what just happened.

This is the only code that decides a run's status. No Django here, so the rule reads (and is
tested, event by status) as a table. The services build the facts from a locked row
(``releases.services.moves.facts_of``), call ``next_status`` and make the move through the
model's ``transition_to()``, which checks it against the transition table.
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

PENDING = (DATA_PENDING, NEEDS_DIFF)

# The moves a run may make (the model's ``transition_to()`` checks every move against it).
TRANSITIONS = {
    DATA_PENDING: {NEEDS_DIFF, NO_DIFF_NEEDED, DIFF_FOUND, DIFF_NOT_FOUND, FAILED},
    NEEDS_DIFF: {DIFF_FOUND, DIFF_NOT_FOUND, FLAKY, FAILED, DATA_PENDING},
    NO_DIFF_NEEDED: {NEEDS_DIFF, DIFF_NOT_FOUND, DATA_PENDING, FAILED},
    DIFF_FOUND: {DIFF_APPROVED, NEEDS_DIFF, DIFF_NOT_FOUND, DATA_PENDING},
    DIFF_APPROVED: {DIFF_FOUND, DATA_PENDING},
    DIFF_NOT_FOUND: {NEEDS_DIFF, DIFF_FOUND, DATA_PENDING},
    FLAKY: {NEEDS_DIFF, DIFF_FOUND, DATA_PENDING},
    FAILED: {NEEDS_DIFF, NO_DIFF_NEEDED, DIFF_FOUND, DIFF_NOT_FOUND, DATA_PENDING},
}
# Only a change is reviewed.
REVIEWABLE = (DIFF_FOUND, DIFF_APPROVED)


class InvalidTransition(ValueError):
    """A status change the transition table does not allow (or an event the run's status
    refuses: approving a run that has no change); the message says which."""


# What just happened to the run.
REPORTED = "reported"  # a client reported data (report_run)
CAPTURED = "captured"  # a capture worker recorded a screenshot
FAILED_EVENT = "failed"  # a client or a worker said the run failed (or it ran out of attempts)
REQUESTED = "requested"  # a client asked for the run to be captured (request_run), anew
RECAPTURE_WANTED = "recapture_wanted"  # the diff wants the page loaded once more
RECAPTURED = "recaptured"  # that second load was recorded (or failed, costing nothing)
DIFF_RECORDED = "diff_recorded"  # a diff worker recorded its verdict (Facts.diff_outcome)
RETRIED = "retried"  # an owner retried a failed run
CANCELLED = "cancelled"  # its release was cancelled or superseded, or will get no more data
APPROVED = "approved"  # a reviewer approved the change
REJECTED = "rejected"  # a reviewer took an approval back
EVENTS = (
    REPORTED,
    CAPTURED,
    FAILED_EVENT,
    REQUESTED,
    RECAPTURE_WANTED,
    RECAPTURED,
    DIFF_RECORDED,
    RETRIED,
    CANCELLED,
    APPROVED,
    REJECTED,
)

# What a diff found (Facts.diff_outcome, for DIFF_RECORDED).
FOUND = "found"  # a change beyond the tolerance
NOISY = "noisy"  # nothing beyond what differed between two loads of the page
UNCHANGED = "unchanged"
OUTCOMES = (FOUND, NOISY, UNCHANGED)


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
    captures_pending: bool = False  # a side has a config to capture and no image yet
    diff_outcome: str = ""  # what the recorded diff found (OUTCOMES)


def next_status(facts: Facts, event: str) -> str:
    """The status the run takes after ``event``; its own status where the event changes
    nothing (a late message for a run that moved on). ``InvalidTransition`` where the event
    calls for a move the table does not allow."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    goal = _next(facts, event)
    if goal != facts.status and goal not in TRANSITIONS[facts.status]:
        raise InvalidTransition(f"a {facts.status} run cannot go to {goal} ({event})")
    return goal


def _next(facts: Facts, event: str) -> str:
    status = facts.status
    if event == FAILED_EVENT:
        return FAILED
    if event == CANCELLED:
        return FAILED if status in PENDING else status
    if event == REQUESTED:
        return DATA_PENDING
    if event in (APPROVED, REJECTED):
        if status not in REVIEWABLE:
            raise InvalidTransition(f"only a changed run is {event}; this one is {status}")
        return DIFF_APPROVED if event == APPROVED else DIFF_FOUND
    if event == RECAPTURE_WANTED:
        return DATA_PENDING if status == NEEDS_DIFF else status
    if event == RECAPTURED:
        return NEEDS_DIFF if status == DATA_PENDING else status
    if event == DIFF_RECORDED:
        return _verdict(facts) if status == NEEDS_DIFF else status
    if event == RETRIED:
        return _retried(facts) if status == FAILED else status
    return _from_inputs(facts)


def _verdict(facts: Facts) -> str:
    if facts.diff_outcome not in OUTCOMES:
        raise ValueError(f"unknown diff outcome {facts.diff_outcome!r}")
    return {FOUND: DIFF_FOUND, NOISY: FLAKY, UNCHANGED: DIFF_NOT_FOUND}[facts.diff_outcome]


def _retried(facts: Facts) -> str:
    if facts.captures_pending:  # a capture that failed left its image empty
        return DATA_PENDING
    if facts.has_image and facts.has_ref_image:  # the diff failed
        return NEEDS_DIFF
    return FAILED  # a client reported the failure and gave nothing to redo


def _from_inputs(facts: Facts) -> str:
    """After a report or a capture: what the run's images call for."""
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
