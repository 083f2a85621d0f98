import pytest

from releases.models import AuditLog, Release


def mark(api, status, name="r1", number=1):
    return api.post(
        "mark_release",
        {
            "build_id": api.build_id,
            "release_name": name,
            "release_number": number,
            "status": status,
        },
    )


@pytest.mark.parametrize("status", ["good", "bad"])
def test_mark_release(api, status):
    api.create_release()
    response = mark(api, status)
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "build_id": api.build_id,
        "release_name": "r1",
        "release_number": 1,
        "status": status,
    }
    assert Release.objects.get().status == status
    entry = AuditLog.objects.get(action=f"release_{status}")
    assert entry.api_key_id == api.keyed.key_id


def test_good_to_bad_directly_is_refused(api):
    api.create_release()
    mark(api, "good")
    response = mark(api, "bad")
    assert response.status_code == 400
    assert response.json()["error"] == "release cannot go from good to bad"


def test_marking_twice_is_idempotent(api):
    api.create_release()
    mark(api, "good")
    assert mark(api, "good").status_code == 200


def test_only_good_or_bad(api):
    api.create_release()
    response = mark(api, "reviewing")
    assert response.status_code == 400
    assert response.json()["error"] == 'status: "reviewing" is not a valid choice.'


def test_unknown_release(api):
    assert mark(api, "good", name="nope").status_code == 404
