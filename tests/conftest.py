import base64
import io
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image
from rest_framework.test import APIClient

from tests.processes import celery_worker_command

ROOT = Path(__file__).resolve().parent.parent


# --- images ---------------------------------------------------------------------------------


def make_png(width=200, height=200, background=(255, 255, 255, 255), squares=(), **save_options):
    """A PNG with filled squares: ``squares`` is a list of (x, y, size, rgba)."""
    image = Image.new("RGBA", (width, height), background)
    for x, y, size, color in squares:
        image.paste(Image.new("RGBA", (size, size), color), (x, y))
    out = io.BytesIO()
    image.save(out, format="PNG", **save_options)
    return out.getvalue()


BLACK = (0, 0, 0, 255)


# --- builds, keys and the API client ---------------------------------------------------------


@dataclass
class KeyedBuild:
    build: object
    key_id: str
    secret: str

    @property
    def auth_header(self):
        token = base64.b64encode(f"{self.key_id}:{self.secret}".encode()).decode()
        return f"Basic {token}"


@pytest.fixture
def make_build(db):
    from releases import services
    from releases.models import ApiKey

    def factory(name="Site", *, owner=None, public=False):
        build = services.create_build(name=name, owner=owner, public=public)
        key, secret = ApiKey.create(build=build, purpose="tests")
        return KeyedBuild(build, key.id, secret)

    return factory


@pytest.fixture
def keyed(make_build):
    return make_build()


class Api:
    """Calls /api/<endpoint> through Django's test client with a key's credentials."""

    def __init__(self, client, keyed_build):
        self.client = client
        self.keyed = keyed_build

    @property
    def build_id(self):
        return self.keyed.build.id

    def post(self, endpoint, data=None, *, auth=True, format=None, **kwargs):
        headers = {"HTTP_AUTHORIZATION": self.keyed.auth_header} if auth else {}
        return self.client.post(f"/api/{endpoint}", data or {}, format=format, **headers, **kwargs)

    def get(self, endpoint, data=None, *, auth=True, **kwargs):
        headers = {"HTTP_AUTHORIZATION": self.keyed.auth_header} if auth else {}
        return self.client.get(f"/api/{endpoint}", data or {}, **headers, **kwargs)

    def upload(self, data: bytes, filename="shot.png"):
        response = self.post(
            "upload",
            {"build_id": self.build_id, "file": _named(data, filename)},
            format="multipart",
        )
        assert response.status_code == 200, response.content
        return response.json()["sha1sum"]

    def create_release(self, name="r1"):
        response = self.post("create_release", {"build_id": self.build_id, "release_name": name})
        assert response.status_code == 200, response.content
        return response.json()["release_number"]

    def report(self, run_name, release="r1", number=1, **fields):
        return self.post(
            "report_run",
            {
                "build_id": self.build_id,
                "release_name": release,
                "release_number": number,
                "run_name": run_name,
                **fields,
            },
        )


def _named(data, filename):
    handle = io.BytesIO(data)
    handle.name = filename
    return handle


@pytest.fixture
def api(keyed):
    return Api(APIClient(), keyed)


# --- real processes -------------------------------------------------------------------------


def child_database_url():
    """A DATABASE_URL for the test database (pytest-django renamed it), for child processes."""
    from django.db import connection

    settings_dict = connection.settings_dict
    engine = settings_dict["ENGINE"].rsplit(".", 1)[-1]
    name = settings_dict["NAME"]
    if engine == "sqlite3":
        return f"sqlite:///{name}"
    scheme = {"postgresql": "postgres", "mysql": "mysql"}[engine]
    user = quote(settings_dict.get("USER") or "")
    password = quote(settings_dict.get("PASSWORD") or "")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or ""
    return f"{scheme}://{credentials}{host}{':' + str(port) if port else ''}/{name}"


class WorkerProcess:
    """A real ``celery worker`` process on the test session's Redis and test database."""

    def __init__(self, log_path: Path, queues="diff,capture,default"):
        self.log_path = log_path
        env = {
            **os.environ,
            "DATABASE_URL": child_database_url(),
            "DPXDT_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(
            celery_worker_command(
                queues,
                1,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
                "--loglevel",
                "INFO",
            ),
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited at start:\n{self.output()}")
            if b" ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout} s:\n{self.output()}")

    def output(self):
        return self.log_path.read_bytes().decode(errors="replace")[-5000:]

    def pool_children(self):
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        worker = WorkerProcess(tmp_path_factory.mktemp("worker") / "worker.log")
    yield worker
    worker.stop()


def wait_for(predicate, *, timeout=60, interval=0.2, message="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def _served_site():
    from tests.pages import Site, serve

    site = Site()
    server = serve(site)
    yield site
    server.shutdown()
    server.server_close()


# Screenshots of the pages the UI tests visit (look at them).
SHOTS = ROOT / "test-artifacts" / "ui"


@pytest.fixture
def browser_page():
    """A page of real Chromium (the capture engine's binary and flags) for UI tests."""
    from playwright.sync_api import sync_playwright

    from capture.browser import CHROMIUM_ARGS, find_chromium

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        options = {"args": CHROMIUM_ARGS}
        if find_chromium():
            options["executable_path"] = find_chromium()
        browser = playwright.chromium.launch(**options)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        yield page
        # Leave the site before closing, so that no request (an image, a prefetch) is still
        # being served while the test database is dropped.
        page.goto("about:blank")
        page.wait_for_timeout(500)
        browser.close()


@pytest.fixture
def site():
    """A web server on 127.0.0.1 serving the pages a test adds (tests/pages.py)."""
    yield from _served_site()


@pytest.fixture
def other_site():
    """A second such server (another origin: another port of 127.0.0.1)."""
    yield from _served_site()


DB_FIXTURES = {"db", "transactional_db", "django_db_setup", "live_server", "celery_worker"}


def pytest_collection_modifyitems(config, items):
    """With DPXDT_DB_TESTS_ONLY=1 (the PostgreSQL and MariaDB passes of make test), run only
    the tests that touch the database; the rest gain nothing from running three times. The
    end-to-end tests (real workers, Chromium) run in the SQLite pass only: they cost minutes per
    pass, and real workers on PostgreSQL, concurrently, are what the fault suite runs
    (tests/faults, its own PostgreSQL database)."""
    if os.environ.get("DPXDT_DB_TESTS_ONLY") != "1":
        return
    keep, drop = [], []
    for item in items:
        uses_db = (
            bool(DB_FIXTURES & set(getattr(item, "fixturenames", ())))
            or item.get_closest_marker("django_db") is not None
        )
        if item.get_closest_marker("netns") is not None or item.get_closest_marker("e2e"):
            uses_db = False  # the SQLite pass runs them (see above)
        (keep if uses_db else drop).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep
