"""The rules every endpoint shares: who may call it, and how refusals look."""

import base64

import pytest

from releases.models import ApiKey

ENDPOINTS = [
    "create_release",
    "find_run",
    "upload",
    "report_run",
    "runs_done",
    "release_status",
    "mark_release",
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_no_credentials_is_401_with_www_authenticate(api, endpoint):
    response = api.post(endpoint, {"build_id": api.build_id}, auth=False)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="API key required"'
    assert "error" in response.json() and "success" not in response.json()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_wrong_secret_is_403(api, endpoint):
    api.keyed.secret = "not-the-secret"
    response = api.post(endpoint, {"build_id": api.build_id})
    assert response.status_code == 403
    assert response.json() == {"error": "invalid API key or secret"}


def test_unknown_key_is_403_with_the_same_message(api):
    api.keyed.key_id = "0" * 32
    response = api.post("create_release", {"build_id": api.build_id, "release_name": "r"})
    assert response.status_code == 403
    assert response.json() == {"error": "invalid API key or secret"}


def test_revoked_key_is_403(api):
    ApiKey.objects.get(pk=api.keyed.key_id).revoke()
    response = api.post("create_release", {"build_id": api.build_id, "release_name": "r"})
    assert response.status_code == 403
    assert "revoked" in response.json()["error"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_key_for_build_a_is_refused_on_build_b_with_404(api, make_build, endpoint):
    other = make_build("Other build")
    response = api.post(
        endpoint,
        {
            "build_id": other.build.id,
            "release_name": "r",
            "release_number": 1,
            "run_name": "/",
            "status": "good",
            "sha1sum": "a" * 40,
        },
    )
    assert response.status_code == 404
    assert response.json() == {"error": f"build {other.build.id} not found"}


def test_unknown_build_is_404_like_a_foreign_one(api):
    response = api.post("create_release", {"build_id": 999999, "release_name": "r"})
    assert response.status_code == 404
    assert response.json() == {"error": "build 999999 not found"}


def test_superuser_key_may_use_every_build(api, make_build):
    other = make_build("Other build")
    key, secret = ApiKey.create(superuser=True, purpose="workers")
    auth = base64.b64encode(f"{key.id}:{secret}".encode()).decode()
    response = api.client.post(
        "/api/create_release",
        {"build_id": other.build.id, "release_name": "r"},
        HTTP_AUTHORIZATION=f"Basic {auth}",
    )
    assert response.status_code == 200, response.content


def test_missing_build_id_names_the_field(api):
    response = api.post("create_release", {"release_name": "r"})
    assert response.status_code == 400
    assert response.json()["error"] == "build_id: This field is required."


def test_secret_is_stored_hashed_never_in_clear(api):
    key = ApiKey.objects.get(pk=api.keyed.key_id)
    assert api.keyed.secret not in key.secret_hash
    assert key.check_secret(api.keyed.secret)
    assert not key.check_secret(api.keyed.secret + "x")


def test_successful_call_records_last_use(api):
    assert ApiKey.objects.get(pk=api.keyed.key_id).last_used is None
    api.post("create_release", {"build_id": api.build_id, "release_name": "r"})
    assert ApiKey.objects.get(pk=api.keyed.key_id).last_used is not None


def test_get_is_not_allowed_on_write_endpoints(api):
    response = api.get("create_release", {"build_id": api.build_id})
    assert response.status_code == 405
