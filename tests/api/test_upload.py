import hashlib

from django.test import override_settings

from artifacts import storage
from artifacts.models import Artifact
from tests.conftest import _named, make_png


def test_upload_returns_the_clients_sha1(api):
    png = make_png()
    response = api.post(
        "upload", {"build_id": api.build_id, "file": _named(png, "home.png")}, format="multipart"
    )
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "build_id": api.build_id,
        "sha1sum": hashlib.sha1(png).hexdigest(),
        "content_type": "image/png",
        "size": len(png),
    }
    assert storage.read_bytes(hashlib.sha1(png).hexdigest()) == png


def test_content_type_is_guessed_from_the_filename(api):
    sha1 = api.upload(b"capture log\n", filename="log.txt")
    assert Artifact.objects.get(pk=sha1).content_type == "text/plain"
    sha1 = api.upload(b"\x00\x01", filename="blob")
    assert Artifact.objects.get(pk=sha1).content_type == "application/octet-stream"


def test_same_bytes_are_stored_once_and_owned_once(api, make_build):
    png = make_png()
    first = api.upload(png)
    second = api.upload(png)
    assert first == second
    assert Artifact.objects.count() == 1
    assert api.keyed.build.artifacts.count() == 1  # no duplicate ownership rows

    first_build = api.build_id
    other = make_build("Other")
    api.keyed = other
    assert api.upload(png) == first
    assert Artifact.objects.count() == 1
    owners = set(Artifact.objects.get(pk=first).owners.values_list("id", flat=True))
    assert owners == {first_build, other.build.id}


def test_exactly_one_file_is_required(api):
    response = api.post("upload", {"build_id": api.build_id}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"] == "file: need exactly one uploaded file, got 0"
    response = api.post(
        "upload",
        {"build_id": api.build_id, "a": _named(b"1", "a.txt"), "b": _named(b"2", "b.txt")},
        format="multipart",
    )
    assert response.status_code == 400
    assert "got 2" in response.json()["error"]


@override_settings(MAX_UPLOAD_BYTES=1000)
def test_upload_over_the_limit_is_413_and_stores_nothing(api):
    response = api.post(
        "upload",
        {"build_id": api.build_id, "file": _named(b"x" * 5000, "big.png")},
        format="multipart",
    )
    assert response.status_code == 413
    assert response.json() == {
        "error": "file of 5000 bytes exceeds the limit of 1000 bytes (DPXDT_MAX_UPLOAD_BYTES)"
    }
    assert Artifact.objects.count() == 0


@override_settings(MAX_UPLOAD_BYTES=1000)
def test_declared_length_over_the_limit_is_refused_before_reading(api):
    response = api.post(
        "upload",
        {"build_id": api.build_id, "file": _named(b"x" * 200_000, "big.png")},
        format="multipart",
    )
    assert response.status_code == 413
    assert "exceeds the limit of 1000 bytes" in response.json()["error"]
