"""The run's next status as a table: facts and event in, status out (no database)."""

import dataclasses

import pytest

from releases import runstate as rs
from releases.models import Run


def facts(
    status="data_pending",
    *,
    image=False,
    ref=False,
    same=False,
    diff=False,
    expects_ref=False,
    new_inputs=False,
    diff_log=False,
):
    return rs.Facts(
        status=status,
        has_image=image,
        has_ref_image=ref,
        identical_images=same,
        has_diff_image=diff,
        expects_reference=expects_ref,
        inputs_changed=new_inputs,
        diff_log_reported=diff_log,
    )


TABLE = [
    # a failure is a failure, whatever the run holds
    (facts(image=True, ref=True), rs.FAILED_EVENT, "failed"),
    (facts("needs_diff", image=True, ref=True, diff=True), rs.FAILED_EVENT, "failed"),
    # nothing yet, or only the reference
    (facts(), rs.REPORTED, "data_pending"),
    (facts(ref=True), rs.CAPTURED, "data_pending"),
    # the new page alone: a baseline, unless a reference is still to be captured
    (facts(image=True), rs.REPORTED, "no_diff_needed"),
    (facts(image=True), rs.CAPTURED, "no_diff_needed"),
    (facts(image=True, expects_ref=True), rs.CAPTURED, "data_pending"),
    # both sides: diff them, unless the bytes are the same
    (facts(image=True, ref=True, new_inputs=True), rs.CAPTURED, "needs_diff"),
    (facts(image=True, ref=True, same=True, new_inputs=True), rs.REPORTED, "diff_not_found"),
    (facts("failed", image=True, ref=True, new_inputs=True), rs.REPORTED, "needs_diff"),
    # the client diffed itself
    (facts(image=True, ref=True, diff=True), rs.REPORTED, "diff_found"),
    (facts(image=True, ref=True, diff_log=True), rs.REPORTED, "diff_not_found"),
    (facts("diff_approved", image=True, ref=True, diff=True), rs.REPORTED, "diff_approved"),
    # a verdict stays while the inputs stay, and goes when they change
    (facts("diff_found", image=True, ref=True), rs.REPORTED, "diff_found"),
    (facts("flaky", image=True, ref=True), rs.REPORTED, "flaky"),
    (facts("diff_not_found", image=True, ref=True), rs.REPORTED, "diff_not_found"),
    (facts("flaky", image=True, ref=True, new_inputs=True), rs.REPORTED, "needs_diff"),
    (facts("diff_not_found", image=True, ref=True, new_inputs=True), rs.CAPTURED, "needs_diff"),
]


@pytest.mark.parametrize("given, event, expected", TABLE)
def test_next_status(given, event, expected):
    assert rs.next_status(given, event) == expected


def test_a_move_the_table_does_not_allow_is_refused():
    approved = facts("diff_approved", image=True, ref=True, new_inputs=True)
    with pytest.raises(rs.InvalidTransition, match="diff_approved run cannot go to needs_diff"):
        rs.next_status(approved, rs.REPORTED)


def test_an_unknown_event_is_refused():
    with pytest.raises(ValueError, match="unknown event 'deleted'"):
        rs.next_status(facts(), "deleted")


def test_the_statuses_are_the_models():
    assert set(rs.STATUSES) == set(Run.Status.values)


# --- every event against every status -------------------------------------------------------

# The columns: the statuses in this order.
COLUMNS = ("data_pending", "needs_diff", "diff_found", "diff_approved", "diff_not_found")
COLUMNS += ("no_diff_needed", "flaky", "failed")
DP, ND, DF, DA, NF, NN, FL, FA = COLUMNS
# What each event makes of a run holding two different images (nothing left to capture; a diff
# recorded found a change), in each status. "no": refused (InvalidTransition; the API answers
# 400, the review UI shows why): a reviewer approves or takes back only a change; a verdict
# does not fail afterwards.
NO = "no"
EVENT_TABLE = {
    rs.REPORTED: (ND, ND, DF, DA, NF, ND, FL, ND),
    rs.CAPTURED: (ND, ND, DF, DA, NF, ND, FL, ND),
    rs.FAILED_EVENT: (FA, FA, NO, NO, NO, FA, NO, FA),
    rs.REQUESTED: (DP, DP, DP, DP, DP, DP, DP, DP),
    rs.RECAPTURE_WANTED: (DP, DP, DF, DA, NF, NN, FL, FA),
    rs.RECAPTURED: (ND, ND, DF, DA, NF, NN, FL, FA),
    rs.DIFF_RECORDED: (DP, DF, DF, DA, NF, NN, FL, FA),
    rs.RETRIED: (DP, ND, DF, DA, NF, NN, FL, ND),
    rs.CANCELLED: (FA, FA, DF, DA, NF, NN, FL, FA),
    rs.APPROVED: (NO, NO, DA, DA, NO, NO, NO, NO),
    rs.REJECTED: (NO, NO, DF, DF, NO, NO, NO, NO),
}


def outcome(given, event):
    try:
        return rs.next_status(given, event)
    except rs.InvalidTransition:
        return NO


def usual(status):
    return facts(status, image=True, ref=True, expects_ref=True)


@pytest.mark.parametrize("event", rs.EVENTS)
def test_every_event_in_every_status(event):
    got = tuple(
        outcome(dataclasses.replace(usual(status), diff_outcome=rs.FOUND), event)
        for status in COLUMNS
    )
    assert got == EVENT_TABLE[event]
    for status, goal in zip(COLUMNS, got, strict=True):  # every move is one the model allows
        assert goal in (status, NO) or goal in Run.TRANSITIONS[status]


def test_the_table_covers_every_event():
    assert set(EVENT_TABLE) == set(rs.EVENTS)


@pytest.mark.parametrize("outcome, expected", [(rs.FOUND, DF), (rs.NOISY, FL), (rs.UNCHANGED, NF)])
def test_a_recorded_diff_gives_its_verdict(outcome, expected):
    given = dataclasses.replace(usual(ND), diff_outcome=outcome)
    assert rs.next_status(given, rs.DIFF_RECORDED) == expected


def test_a_recorded_diff_must_say_what_it_found():
    with pytest.raises(ValueError, match="unknown diff outcome ''"):
        rs.next_status(usual(ND), rs.DIFF_RECORDED)


def test_a_retried_run_goes_back_to_what_it_lacks():
    capture_failed = dataclasses.replace(usual(FA), has_image=False, captures_pending=True)
    assert rs.next_status(capture_failed, rs.RETRIED) == DP
    client_failed = facts(FA, image=True)  # a client reported the failure: nothing to redo
    assert rs.next_status(client_failed, rs.RETRIED) == FA
