"""The CI tools' API client against a small server on 127.0.0.1."""

import json
import socket

import pytest

from localtool.client import ApiError, Client
from tests.pages import Page


def test_retries_5xx_then_succeeds(site):
    site.add("/api/find_run", "")
    answers = iter(
        [
            Page(body="busy", status=503),
            Page(body="oops", status=502),
            Page(body=json.dumps({"success": True, "image": "x"}), content_type="application/json"),
        ]
    )
    site.pages = _Answers(site.pages, "/api/find_run", answers)
    client = Client(f"{site.url}/api", "key", "secret", backoff=0.01)
    assert client.call("find_run", method="GET", build_id=1)["image"] == "x"
    assert len(site.seen("/api/find_run?build_id=1")) == 3


def test_error_names_the_endpoint_and_the_servers_reason(site):
    site.add(
        "/api/find_run",
        json.dumps({"error": "build 3 not found"}),
        status=404,
        content_type="application/json",
    )
    client = Client(f"{site.url}/api", "key", "secret", backoff=0.01)
    with pytest.raises(ApiError, match="find_run: HTTP 404: build 3 not found"):
        client.call("find_run", method="GET", build_id=3)
    assert len(site.requests) == 1  # a 4xx is not retried


def test_connection_refused_is_reported():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Client(f"http://127.0.0.1:{port}/api", "key", "secret", retries=1, backoff=0.01)
    with pytest.raises(ApiError, match=rf"create_release: could not reach http://127.0.0.1:{port}"):
        client.call("create_release", build_id=1)


def test_missing_credentials_are_named():
    with pytest.raises(ApiError, match="no API key"):
        Client("http://127.0.0.1:1/api", "", "")
    with pytest.raises(ApiError, match="no server"):
        Client("", "k", "s")


class _Answers(dict):
    """Pages where one path answers from a sequence (to fake a flaky server)."""

    def __init__(self, pages, path, answers):
        super().__init__(pages)
        self.path, self.answers = path, answers

    def get(self, path, default=None):
        if path == self.path:
            return next(self.answers)
        return super().get(path, default)
