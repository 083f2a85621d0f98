"""The server itself, whatever address a capture asks it by: a real gunicorn in the README's
production layout (0.0.0.0:8000 behind an HTTPS proxy, here on a free port) records where it
listens as it serves, and captures of it by the loopback, ::1, a name of DPXDT_ALLOWED_HOSTS
or the machine's own address are refused, while other ports of the same addresses are not."""

import os
import socket
import subprocess
import time

import pytest
import requests

from capture import services as capture_services
from capture.browser import Browser, CaptureError
from capture.config import parse
from releases import endpoints
from releases.models import ServerEndpoint
from tests.conftest import ROOT, WorkerProcess, child_database_url, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def gunicorn(tmp_path):
    port = free_port()
    log = open(tmp_path / "gunicorn.log", "wb")
    env = {
        **os.environ,
        "DATABASE_URL": child_database_url(),
        "DPXDT_PUBLIC_URL": "https://depicted.example.com",
        "DPXDT_ALLOWED_HOSTS": "depicted.example.com,localhost,127.0.0.1",
    }
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "dpxdt_site.wsgi", "--bind", f"0.0.0.0:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def answers():
        try:
            return requests.get(f"http://127.0.0.1:{port}/login/", timeout=2).status_code
        except requests.ConnectionError:
            return None

    try:
        wait_for(answers, timeout=60, message="gunicorn to answer")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def test_every_address_of_the_server_is_itself(gunicorn, site):
    port = gunicorn
    wait_for(
        lambda: ServerEndpoint.objects.filter(address="0.0.0.0", port=port).exists(),
        message="the web process to record where it listens",
    )
    recorded = ServerEndpoint.objects.get(port=port)
    assert recorded.machine == endpoints.machine()
    policy = capture_services.network_policy()
    browser = Browser(policy=policy)
    own = [a for a in endpoints.machine_addresses() if ":" not in a and a != "127.0.0.1"]
    try:
        for url in (
            f"http://127.0.0.1:{port}/",
            f"http://[::1]:{port}/admin/",
            f"http://localhost:{port}/admin/",
            *(f"http://{address}:{port}/" for address in own),
        ):
            with pytest.raises(CaptureError, match="is the Depicted server itself"):
                browser.capture(parse({}).with_target(url))
        # Another port of the same address is another service.
        assert browser.capture(parse({}).with_target(site.add("/", "<p>ok</p>"))).png
    finally:
        browser.close()
    # Webhooks too.
    assert "Depicted server itself" in capture_services.network_policy("webhook").check(
        "127.0.0.1", port, ["127.0.0.1"]
    )


def test_a_capture_worker_with_no_way_to_know_the_server_says_so(tmp_path, settings):
    assert not ServerEndpoint.objects.exists()
    worker = WorkerProcess(tmp_path / "worker.log", queues="capture")
    try:
        wait_for(
            lambda: "DPXDT_PUBLIC_URL is not set" in worker.output(),
            timeout=10,
            message="the warning",
        )
    finally:
        worker.stop()
    ServerEndpoint.objects.create(
        machine="m", address="10.0.0.8", port=8000, seen="2026-01-01T00:00:00Z"
    )
    worker = WorkerProcess(tmp_path / "worker2.log", queues="capture")
    try:
        time.sleep(1)
        assert "DPXDT_PUBLIC_URL is not set" not in worker.output()
    finally:
        worker.stop()


def test_a_server_reporting_its_port_records_its_listening_socket(live_server):
    """Django's own servers (runserver, the live server here) give SERVER_PORT; the process's
    listening socket on that port is found in /proc."""
    port = int(live_server.url.rsplit(":", 1)[1])
    endpoints._recorded.clear()  # the live server is the session's: an earlier test's record
    assert requests.get(f"{live_server.url}/login/", timeout=10).status_code in (200, 302, 404)
    assert ServerEndpoint.objects.filter(address="127.0.0.1", port=port).exists()
    # The test client's requests (SERVER_PORT 80, nothing listening) record nothing else.
    assert ServerEndpoint.objects.count() == 1
