"""The run's next status as a table: facts and event in, status out (no database)."""

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
    (facts("diff_found", image=True, ref=True, diff=True), rs.FAILED_EVENT, "failed"),
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
    (facts("diff_approved", image=True, ref=True, new_inputs=True), rs.CAPTURED, "needs_diff"),
]


@pytest.mark.parametrize("given, event, expected", TABLE)
def test_next_status(given, event, expected):
    assert rs.next_status(given, event) == expected


def test_an_unknown_event_is_refused():
    with pytest.raises(ValueError, match="unknown event 'deleted'"):
        rs.next_status(facts(), "deleted")


def test_the_statuses_are_the_models():
    assert set(rs.STATUSES) == set(Run.Status.values)
