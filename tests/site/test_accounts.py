"""Accounts: login throttling (django-axes), e-mail trust for identity providers, the HTTPS
proxy settings."""

import subprocess
import sys
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from releases import social
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(settings):
    settings.AXES_FAILURE_LIMIT = 5
    return get_user_model().objects.create_user("alice", password="right-pw-123")


def login(client, password, address="10.0.0.1"):
    return client.post("/login", {"username": "alice", "password": password}, REMOTE_ADDR=address)


def test_five_wrong_passwords_lock_out_that_user_from_that_address(account):
    client = Client()
    for _ in range(4):
        assert login(client, "wrong").status_code == 200  # the form again, with its error
    locked = login(client, "wrong")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    # Locked: even the right password does not get in now...
    assert login(client, "right-pw-123").status_code == 429
    assert "_auth_user_id" not in client.session
    # ...but the same user from elsewhere, and another user from here, are not affected.
    assert login(Client(), "right-pw-123", address="10.0.0.2").status_code == 302


def test_a_success_resets_the_count(account):
    client = Client()
    for _ in range(4):
        login(client, "wrong")
    assert login(client, "right-pw-123").status_code == 302
    client.logout()
    for _ in range(4):
        assert login(client, "wrong").status_code == 200  # counting from zero again


@pytest.mark.parametrize(
    "backend, response, kept",
    [
        ("google-oauth2", {"email_verified": True}, True),
        ("google-oauth2", {"email_verified": False}, False),
        ("google-oauth2", {}, False),
        ("oidc", {"email_verified": "true"}, True),
        ("oidc", {"email_verified": "false"}, False),
        ("github", {"email_verified": True}, False),  # GitHub does not vouch for its address
    ],
)
def test_only_a_verified_provider_address_is_trusted(backend, response, kept):
    details = {"username": "bob", "email": "owner@example.com"}
    result = social.drop_unverified_email(SimpleNamespace(name=backend), details, response=response)
    assert (result is None) == kept
    if not kept:
        assert result["details"] == {"username": "bob", "email": ""}


def test_the_pipeline_drops_unverified_addresses_before_linking_by_email(settings):
    pipeline = list(settings.SOCIAL_AUTH_PIPELINE)
    assert pipeline.index("releases.social.drop_unverified_email") < pipeline.index(
        "social_core.pipeline.social_auth.associate_by_email"
    )


def setting(name, **env):
    code = f"from django.conf import settings; print(repr(getattr(settings, {name!r}, None)))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "dpxdt_site.settings",
            "DPXDT_DEBUG": "1",
            **env,
        },
    )
    return result.stdout.strip()


def test_behind_an_https_proxy_the_forwarded_scheme_is_trusted_and_hsts_sent(tmp_path):
    env = {"DPXDT_DATA_DIR": str(tmp_path)}
    assert setting("SECURE_PROXY_SSL_HEADER", **env) == "None"
    on = {**env, "DPXDT_BEHIND_HTTPS_PROXY": "true"}
    assert setting("SECURE_PROXY_SSL_HEADER", **on) == "('HTTP_X_FORWARDED_PROTO', 'https')"
    assert setting("SECURE_HSTS_SECONDS", **on) == "31536000"


def test_hsts_is_on_the_responses_behind_the_proxy(settings, client):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    secure = client.get("/login", HTTP_X_FORWARDED_PROTO="https")
    assert secure["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/login")  # plain http: none
