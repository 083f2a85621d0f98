"""Every allowed and forbidden transition, against the tables written out here independently."""

import itertools

import pytest

from releases import services
from releases.models import AuditLog, InvalidTransition, Release, Run

RELEASE_ALLOWED = {
    ("receiving", "processing"),
    ("receiving", "good"),
    ("receiving", "bad"),
    ("processing", "reviewing"),
    ("processing", "good"),
    ("processing", "bad"),
    ("reviewing", "good"),
    ("reviewing", "bad"),
    ("reviewing", "processing"),
    ("good", "reviewing"),
    ("bad", "reviewing"),
}

PENDING = ["data_pending", "needs_diff"]
RUN_ALLOWED = {
    # new data arrives
    ("data_pending", "needs_diff"),
    ("data_pending", "no_diff_needed"),
    ("data_pending", "diff_found"),
    ("data_pending", "diff_not_found"),
    ("data_pending", "failed"),
    # the diff finishes, fails, or inputs change again
    ("needs_diff", "diff_found"),
    ("needs_diff", "diff_not_found"),
    ("needs_diff", "failed"),
    ("needs_diff", "data_pending"),
    # a baseline gets a reference after all
    ("no_diff_needed", "needs_diff"),
    ("no_diff_needed", "diff_not_found"),
    ("no_diff_needed", "data_pending"),
    ("no_diff_needed", "failed"),
    # review, and re-runs with new inputs
    ("diff_found", "diff_approved"),
    ("diff_found", "needs_diff"),
    ("diff_found", "diff_not_found"),
    ("diff_found", "data_pending"),
    ("diff_approved", "diff_found"),
    ("diff_approved", "data_pending"),
    ("diff_not_found", "needs_diff"),
    ("diff_not_found", "diff_found"),
    ("diff_not_found", "data_pending"),
    # a failed run is final for its release, but may be retried with new data
    ("failed", "needs_diff"),
    ("failed", "no_diff_needed"),
    ("failed", "diff_found"),
    ("failed", "diff_not_found"),
    ("failed", "data_pending"),
    # the diff finds that the page differs only from itself (a recapture), and re-runs
    ("needs_diff", "flaky"),
    ("flaky", "needs_diff"),
    ("flaky", "diff_found"),
    ("flaky", "data_pending"),
}


@pytest.fixture
def release(keyed):
    return Release.objects.create(build=keyed.build, name="r", number=1)


@pytest.mark.parametrize("old,new", list(itertools.permutations(Release.Status.values, 2)))
def test_release_transition(release, old, new):
    Release.objects.filter(pk=release.pk).update(status=old)
    release.refresh_from_db()
    if (old, new) in RELEASE_ALLOWED:
        release.transition_to(new)
        release.refresh_from_db()
        assert release.status == new
        assert AuditLog.objects.filter(action=f"release_{new}", release=release).exists()
    else:
        with pytest.raises(InvalidTransition, match=f"release cannot go from {old} to {new}"):
            release.transition_to(new)
        release.refresh_from_db()
        assert release.status == old


@pytest.mark.parametrize("old,new", list(itertools.permutations(Run.Status.values, 2)))
def test_run_transition(release, old, new):
    run = Run.objects.create(release=release, name="/", status=old)
    if (old, new) in RUN_ALLOWED:
        run.transition_to(new)
        run.refresh_from_db()
        assert run.status == new
    else:
        with pytest.raises(InvalidTransition, match=f"run '/' cannot go from {old} to {new}"):
            run.transition_to(new)
        run.refresh_from_db()
        assert run.status == old


def test_pending_statuses_are_the_two_waiting_ones():
    assert set(PENDING) == Run.PENDING


def test_release_with_failed_runs_still_reaches_reviewing(release):
    Release.objects.filter(pk=release.pk).update(status="processing")
    Run.objects.create(release=release, name="/ok", status="diff_not_found")
    failing = Run.objects.create(release=release, name="/broken", status="needs_diff")
    assert services.maybe_finish_release(release.id) is False
    services.fail_run(failing.id, "diff failed: after image cannot be decoded")
    release.refresh_from_db()
    assert release.status == "reviewing"
    failing.refresh_from_db()
    assert failing.failure_reason == "diff failed: after image cannot be decoded"


def test_maybe_finish_release_is_idempotent(release):
    Release.objects.filter(pk=release.pk).update(status="processing")
    assert services.maybe_finish_release(release.id) is True
    assert services.maybe_finish_release(release.id) is False
    assert AuditLog.objects.filter(action="release_reviewing").count() == 1


def test_receiving_release_waits_for_runs_done(release):
    Run.objects.create(release=release, name="/ok", status="diff_not_found")
    assert services.maybe_finish_release(release.id) is False
    release.refresh_from_db()
    assert release.status == "receiving"


def test_status_is_assigned_only_by_transition_to():
    """Nothing outside the models' transition_to() assigns a status."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2]
    offenders = []
    for path in root.glob("*/*.py"):
        if path.parts[-2] in ("tests", ".venv") or path.name == "models.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\.status\s*=[^=]", line):
                offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert offenders == []


def test_audit_actions_are_a_closed_list(release):
    from releases.models import AuditLog

    with pytest.raises(ValueError, match="'release_lost' is not a valid AuditLog.Action"):
        AuditLog.record("release_lost", build_id=release.build_id)
    # Every status of both state machines has its action.
    assert {AuditLog.Action.release(s) for s in Release.Status.values} <= set(AuditLog.Action)
    assert {AuditLog.Action.run(s) for s in Run.Status.values} <= set(AuditLog.Action)
