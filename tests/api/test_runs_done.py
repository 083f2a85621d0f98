import pytest

from releases.models import Release
from tests.conftest import make_png


def runs_done(api, name="r1", number=1):
    return api.post(
        "runs_done", {"build_id": api.build_id, "release_name": name, "release_number": number}
    )


def pending_diff(api, name, release="r1"):
    """A run with both images reported: its diff is queued (no worker runs it here)."""
    api.report(
        name, release=release, image=api.upload(make_png()), ref_image=api.upload(make_png(60, 60))
    )


def test_runs_done_returns_the_results_url(api):
    api.create_release("06-16 r01")
    pending_diff(api, "/a", release="06-16 r01")
    response = runs_done(api, "06-16 r01")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["status"] == "processing"
    assert body["results_url"] == (
        f"http://testserver/release?id={api.build_id}&name=06-16+r01&number=1"
    )


def test_release_with_only_finished_runs_goes_straight_to_reviewing(api):
    api.create_release()
    api.report("/baseline", image=api.upload(make_png()))
    api.report("/failed", run_failed="boom")
    assert runs_done(api).json()["status"] == "reviewing"


def test_empty_release_goes_to_reviewing(api):
    api.create_release()
    assert runs_done(api).json()["status"] == "reviewing"


@pytest.mark.parametrize("final", ["good", "bad"])
def test_runs_done_never_resets_a_finished_release(api, final):
    api.create_release()
    api.post(
        "mark_release",
        {"build_id": api.build_id, "release_name": "r1", "release_number": 1, "status": final},
    )
    response = runs_done(api)
    assert response.status_code == 200
    assert response.json()["status"] == final
    assert Release.objects.get().status == final


def test_runs_done_twice_is_harmless(api):
    api.create_release()
    pending_diff(api, "/a")
    runs_done(api)
    assert runs_done(api).json()["status"] == "processing"


def test_unknown_release_is_404(api):
    response = runs_done(api, "missing", 3)
    assert response.status_code == 404
    assert response.json()["error"] == f"release 'missing' #3 not found in build {api.build_id}"


def test_release_number_must_be_a_number(api):
    response = api.post(
        "runs_done", {"build_id": api.build_id, "release_name": "r1", "release_number": "one"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "release_number: A valid integer is required."


def test_a_run_missing_a_side_no_one_will_send_fails_at_runs_done(api):
    """The original client, given a missing image file, reports only the reference."""
    from releases.models import Release, Run
    from tests.conftest import make_png

    api.create_release()
    ref = api.upload(make_png())
    other = api.upload(make_png(50, 50))
    api.report("/missing", ref_image=ref)
    api.report("/whole", ref_image=ref, image=other)  # diff queued (not run here)
    api.report("/new", image=other)  # a baseline: nothing missing
    assert Run.objects.get(name="/missing").status == "data_pending"
    response = api.post(
        "runs_done", {"build_id": api.build_id, "release_name": "r1", "release_number": 1}
    )
    assert response.status_code == 200
    missing = Run.objects.get(name="/missing")
    assert missing.status == "failed"
    assert missing.failure_reason == "no image reported (runs_done came before it)"
    assert Run.objects.get(name="/whole").status == "needs_diff"  # untouched: the worker's
    assert Run.objects.get(name="/new").status == "no_diff_needed"
    Run.objects.filter(name="/whole").update(status="diff_not_found")
    from releases import services

    services.maybe_finish_release(Release.objects.get().id)
    assert Release.objects.get().status == "reviewing"
