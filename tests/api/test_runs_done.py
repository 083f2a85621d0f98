import pytest

from releases.models import Release
from tests.conftest import make_png


def runs_done(api, name="r1", number=1):
    return api.post(
        "runs_done", {"build_id": api.build_id, "release_name": name, "release_number": number}
    )


def test_runs_done_returns_the_results_url(api):
    api.create_release("06-16 r01")
    api.report("/a", release="06-16 r01", ref_url="https://example.com/a")
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
    api.report("/a", ref_url="https://example.com/a")
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
