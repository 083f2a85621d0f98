"""404, 403 and 500 in the site's look, with a way back (as a production server, DEBUG off)."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django.views import defaults

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def production(settings):
    settings.DEBUG = False


def assert_site_page(html):
    assert 'href="/static/depicted/depicted.css"' in html or "depicted.css" in html
    assert 'class="brand"' in html  # the site's header
    assert 'id="back-home" href="/"' in html  # a way back


def test_a_missing_page_is_the_sites_404():
    response = Client().get("/no/such/page")
    assert response.status_code == 404
    html = response.content.decode()
    assert_site_page(html)
    assert "Nothing here" in html and "without logging in" in html
    assert "/login?next=%2Fno%2Fsuch%2Fpage" in html


def test_an_unknown_build_is_the_sites_404_for_a_signed_in_user():
    user = get_user_model().objects.create_user("viewer", password="pw-123456")
    client = Client()
    client.force_login(user)
    response = client.get("/build?id=999999")
    assert response.status_code == 404
    html = response.content.decode()
    assert_site_page(html)
    assert "viewer" in html and "without logging in" not in html


def test_a_forbidden_action_is_the_sites_403(make_build):
    user = get_user_model().objects.create_user("viewer", password="pw-123456")
    build = make_build("Public site", public=True).build
    client = Client()
    client.force_login(user)
    from releases.models import Release

    Release.objects.create(build=build, name="r1", number=1, status="reviewing")
    response = client.post(
        "/release/mark", {"id": build.id, "name": "r1", "number": 1, "status": "good"}
    )
    assert response.status_code == 403
    html = response.content.decode()
    assert_site_page(html)
    assert "Only the owners of this build can do that" in html


def test_an_expired_form_is_the_sites_403():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login", {"username": "x", "password": "y"})
    assert response.status_code == 403
    html = response.content.decode()
    assert_site_page(html)
    assert "This form has expired" in html


def test_a_server_error_is_the_sites_500_without_a_request_context():
    request = RequestFactory().get("/release?id=1")
    response = defaults.server_error(request)
    assert response.status_code == 500
    html = response.content.decode()
    assert_site_page(html)
    assert "Something went wrong on our side" in html
    assert 'class="btn" href="/login' not in html  # no log-in offer: it would not help


def test_an_exception_in_a_view_gets_the_500_page(monkeypatch):
    from releases import access

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(access, "visible_builds", broken)
    response = Client(raise_request_exception=False).get("/")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


def test_the_site_has_an_icon_and_its_pages_name_it(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon["Content-Type"] == "image/png"
    assert icon.content.startswith(b"\x89PNG") and "max-age=86400" in icon["Cache-Control"]
    assert 'rel="icon"' in client.get("/login").content.decode()
