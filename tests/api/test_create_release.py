from releases.models import AuditLog, Release, Run


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
    api.report("/pending", ref_url="https://example.com/ref")  # stays data_pending
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
