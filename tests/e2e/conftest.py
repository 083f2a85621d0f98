"""End-to-end helpers: the dpxdt API of a live server, as a client sees it."""

import pytest
import requests

from releases import services
from releases.models import ApiKey
from tests.conftest import wait_for


class LiveApi:
    def __init__(self, base_url, build_id, key_id, secret):
        self.base = f"{base_url}/api"
        self.build_id = build_id
        self.session = requests.Session()
        self.session.auth = (key_id, secret)

    def post(self, endpoint, **data):
        response = self.session.post(
            f"{self.base}/{endpoint}", data={"build_id": self.build_id, **data}, timeout=30
        )
        assert response.status_code == 200, response.text
        return response.json()

    def upload(self, png, filename="shot.png"):
        response = self.session.post(
            f"{self.base}/upload",
            data={"build_id": self.build_id},
            files={"file": (filename, png, "image/png")},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()["sha1sum"]

    def status(self, release="r1", number=1):
        return self.post("release_status", release_name=release, release_number=number)

    def wait_until_reviewing(self, release="r1", number=1, timeout=90):
        return wait_for(
            lambda: (lambda s: s if s["status"] == "reviewing" else None)(
                self.status(release, number)
            ),
            timeout=timeout,
            message="release to reach reviewing",
        )


@pytest.fixture
def live(live_server, celery_worker):
    """A build and its API key on the live server, with a real worker behind it."""
    build = services.create_build(name="E2E")
    key, secret = ApiKey.create(build=build, purpose="e2e")
    return LiveApi(live_server.url, build.id, key.id, secret)
