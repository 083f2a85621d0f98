import hashlib

from rest_framework.test import APIClient

from tests.conftest import BLACK, _named, make_png


def test_download_serves_bytes_with_etag(api):
    png = make_png()
    sha1 = api.upload(png)
    response = api.get("download", {"build_id": api.build_id, "sha1sum": sha1})
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == png
    assert response["Content-Type"] == "image/png"
    assert response["ETag"] == f'"{sha1}"'
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_if_none_match_gives_304(api):
    sha1 = api.upload(make_png())
    response = api.get(
        "download", {"build_id": api.build_id, "sha1sum": sha1}, HTTP_IF_NONE_MATCH=f'"{sha1}"'
    )
    assert response.status_code == 304
    assert response.content == b""


def test_artifact_of_another_build_is_not_served(api, make_build):
    mine = api.keyed
    api.keyed = make_build("Other")
    foreign = api.upload(make_png(squares=[(1, 1, 1, (0, 0, 0, 255))]))
    api.keyed = mine
    response = api.get("download", {"build_id": api.build_id, "sha1sum": foreign})
    assert response.status_code == 404
    # ...nor through the other build's id with this build's key.
    response = api.get("download", {"build_id": api.keyed.build.id + 1, "sha1sum": foreign})
    assert response.status_code == 404


def test_html_artifacts_are_downloads_never_pages(api):
    sha1 = api.upload(b"<script>alert(1)</script>", filename="evil.html")
    response = api.get("download", {"build_id": api.build_id, "sha1sum": sha1})
    assert response["Content-Disposition"] == 'attachment; filename="evil.html"'
    assert "sandbox" in response["Content-Security-Policy"]


def test_public_build_artifacts_are_readable_anonymously(api, make_build):
    public = make_build("Public", public=True)
    api.keyed = public
    sha1 = api.upload(make_png())
    response = api.get("download", {"build_id": public.build.id, "sha1sum": sha1}, auth=False)
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("public")


def test_private_build_asks_anonymous_callers_to_authenticate(api):
    sha1 = api.upload(make_png())
    response = api.get("download", {"build_id": api.build_id, "sha1sum": sha1}, auth=False)
    assert response.status_code == 401


def test_bad_sha1(api):
    response = api.get("download", {"build_id": api.build_id, "sha1sum": "xyz"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("sha1sum:")


def test_unknown_sha1(api):
    response = api.get(
        "download", {"build_id": api.build_id, "sha1sum": hashlib.sha1(b"never").hexdigest()}
    )
    assert response.status_code == 404


def test_each_build_serves_its_bytes_as_it_named_them(make_build):
    """The same bytes uploaded by two builds: the first as page.html, the second as shot.png.
    Neither learns the other's name or type, and each is served as its own."""
    from tests.conftest import Api

    png = make_png(squares=[(1, 1, 5, BLACK)])
    first, second = Api(APIClient(), make_build("A")), Api(APIClient(), make_build("B"))
    as_html = first.post(
        "upload", {"build_id": first.build_id, "file": _named(png, "page.html")}, format="multipart"
    )
    assert as_html.json()["content_type"] == "text/html"
    as_png = second.post(
        "upload", {"build_id": second.build_id, "file": _named(png, "shot.png")}, format="multipart"
    )
    assert as_png.json()["content_type"] == "image/png"  # not the first uploader's text/html
    sha1 = as_png.json()["sha1sum"]
    served = second.get("download", {"build_id": second.build_id, "sha1sum": sha1})
    assert served["Content-Type"] == "image/png"
    assert not served.get("Content-Disposition", "").startswith("attachment")
    html = first.get("download", {"build_id": first.build_id, "sha1sum": sha1})
    assert html["Content-Type"] == "text/html"
    assert html["Content-Disposition"] == 'attachment; filename="page.html"'
    for response in (served, html):
        assert response["X-Content-Type-Options"] == "nosniff"
