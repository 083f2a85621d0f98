import pytest

from releases.models import AuditLog, Release, Run
from tests.conftest import make_png


def test_create_release_numbers_attempts_per_name(api):
    first = api.post(
        "create_release",
        {"build_id": api.build_id, "release_name": "06-16", "url": "https://example.com/cut"},
    )
    assert first.status_code == 200
    assert first.json() == {
        "success": True,
        "build_id": api.build_id,
        "release_name": "06-16",
        "release_number": 1,
        "url": "https://example.com/cut",
    }
    assert api.create_release("06-16") == 2
    assert api.create_release("other") == 1
    assert Release.objects.get(name="06-16", number=2).status == "receiving"


def test_create_release_is_audited_with_the_key(api):
    api.create_release("r1")
    entry = AuditLog.objects.get(action="created_release")
    assert entry.api_key_id == api.keyed.key_id
    assert entry.message == "r1 #1"


def test_new_attempt_supersedes_a_processing_one_and_cancels_its_pending_runs(api):
    api.create_release("r1")
    api.report(
        "/pending", image=api.upload(make_png()), ref_image=api.upload(make_png(60, 60))
    )  # needs_diff: no worker runs it here
    api.post("runs_done", {"build_id": api.build_id, "release_name": "r1", "release_number": 1})
    assert Release.objects.get(number=1).status == "processing"

    assert api.create_release("r1") == 2
    old = Release.objects.get(number=1)
    assert old.status == "bad"
    run = Run.objects.get(release=old, name="/pending")
    assert run.status == "failed"
    assert run.failure_reason == "cancelled: release superseded by attempt #2"


def test_new_attempt_leaves_finished_attempts_alone(api):
    api.create_release("r1")
    api.post(
        "mark_release",
        {"build_id": api.build_id, "release_name": "r1", "release_number": 1, "status": "good"},
    )
    api.create_release("r1")
    assert Release.objects.get(number=1).status == "good"


def test_release_name_is_required(api):
    response = api.post("create_release", {"build_id": api.build_id})
    assert response.status_code == 400
    assert response.json()["error"] == "release_name: This field is required."


def test_url_must_be_a_url(api):
    response = api.post(
        "create_release", {"build_id": api.build_id, "release_name": "r", "url": "not a url"}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("url:")


def test_json_body_is_accepted(api):
    response = api.post(
        "create_release", {"build_id": api.build_id, "release_name": "json"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["release_name"] == "json"


@pytest.mark.parametrize(
    "name, char",
    [
        ("r1\nBcc: x@example.com", "U+000A"),
        ("r1\r", "U+000D"),
        ("r\x00", "U+0000"),
        ("r\u2028", "U+2028"),
    ],
)
def test_control_characters_in_a_release_name_are_a_400(api, name, char):
    response = api.post("create_release", {"build_id": api.build_id, "release_name": name})
    assert response.status_code == 400
    assert response.json()["error"] == (
        f"release_name: must not contain control characters (found {char})"
    )


def test_a_run_name_with_a_newline_is_a_400(api):
    api.create_release()
    response = api.post(
        "report_run",
        {"build_id": api.build_id, "release_name": "r1", "release_number": 1, "run_name": "/a\nb"},
    )
    assert response.status_code == 400
    assert (
        "run_name: must not contain control characters (found U+000A)" in (response.json()["error"])
    )


def test_json_nested_100000_deep_is_a_400_not_a_500(api):
    body = "[" * 100_000 + "]" * 100_000
    response = api.client.post(
        "/api/create_release",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=api.keyed.auth_header,
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "JSON parse error - nested too deeply"


def test_a_config_nested_too_deep_is_a_400(api):
    api.create_release()
    response = api.post(
        "request_run",
        {
            "build_id": api.build_id,
            "release_name": "r1",
            "release_number": 1,
            "run_name": "/x",
            "url": "http://127.0.0.1:9/x",
            "config": "[" * 100_000 + "]" * 100_000,
        },
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]
