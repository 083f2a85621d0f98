"""The capture network policy against addresses that are not the loopback, without a request
ever leaving this machine: a real worker runs in a private network namespace (``unshare -n``)
whose loopback also carries 169.254.169.254 (the cloud metadata address) and two private
addresses, each answered by a stand-in server of this test's own inside the namespace. The
worker reaches its broker (a Redis of this test's on a Unix socket) and the SQLite test
database through the file system, so the namespace needs no network at all."""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

import celery_app
from artifacts import storage
from capture import config as capture_config
from capture import services as capture_services
from releases import access, services
from releases.models import Run
from tests.conftest import ROOT, child_database_url, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.django_db(transaction=True)]

METADATA = "169.254.169.254"
PRIVATE_OK = "10.203.0.7"  # a private address: allowed by default
PRIVATE_DENIED = "10.203.1.7"  # a private address an operator's DPXDT_CAPTURE_DENY covers

STAND_IN = textwrap.dedent("""
    import http.server, sys
    log = open(sys.argv[1], "a", buffering=1)
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass
        def do_GET(self):
            log.write(f"{self.server.server_address[0]} {self.connection.getsockname()[0]} "
                      f"{self.path}\\n")
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = (b"<p>stand-in</p><img src='http://169.254.169.254/pixel.png'>"
                    if self.path == "/with-metadata-image" else b"<p>metadata-secret</p>")
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    http.server.ThreadingHTTPServer(("0.0.0.0", 80), Handler).serve_forever()
""")


@pytest.fixture
def namespace_worker(tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.fail("this test needs root, unshare and ip to make a private network namespace")
    folder = Path(tempfile.mkdtemp(prefix="dpxdt-netns-"))
    socket_path = folder / "redis.sock"
    redis = subprocess.Popen(
        [
            "redis-server",
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(socket_path.exists, timeout=10, message="Redis on a Unix socket")
    (folder / "stand_in.py").write_text(STAND_IN)
    hits = folder / "hits.log"
    hits.touch()
    log_path = folder / "worker.log"
    broker = f"redis+socket://{socket_path}"
    script = (
        "set -e; ip link set lo up; "
        f"ip addr add {METADATA}/32 dev lo; ip addr add {PRIVATE_OK}/32 dev lo; "
        f"ip addr add {PRIVATE_DENIED}/32 dev lo; "
        f"{sys.executable} {folder / 'stand_in.py'} {hits} & "
        f"exec {sys.executable} -m celery -A celery_app worker -Q capture,diff,default -c 1 "
        "--without-gossip --without-mingle --without-heartbeat -n netns@%h --loglevel INFO"
    )
    env = {
        **os.environ,
        "DATABASE_URL": child_database_url(),
        "CELERY_BROKER_URL": broker,
        "DPXDT_CAPTURE_DENY": f"{PRIVATE_DENIED.rsplit('.', 2)[0]}.1.0/24",
        "DPXDT_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            ["unshare", "-n", "bash", "-c", script],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            lambda: b" ready." in log_path.read_bytes() or worker.poll() is not None,
            timeout=60,
            message="the worker in the namespace",
        )
        assert worker.poll() is None, log_path.read_text()[-3000:]
        connection = celery_app.app.connection_for_write(broker)
        yield connection, hits, log_path
        connection.release()
    finally:
        os.killpg(worker.pid, 15)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, 9)
            worker.wait()
        redis.terminate()
        redis.wait()
        shutil.rmtree(folder, ignore_errors=True)


def test_policy_in_a_private_network_namespace(namespace_worker, monkeypatch):
    connection, hits, worker_log = namespace_worker
    # Work goes to the namespace's broker only: nothing outside it captures these URLs.
    monkeypatch.setattr(
        "releases.pipeline._send",
        lambda signature, run_id: signature.apply_async(connection=connection),
    )
    build = services.create_build(name="netns")
    caller = access.Caller()
    release = services.create_release(caller, build, name="r1")
    pages = {
        "/metadata": f"http://{METADATA}/latest/meta-data/",
        "/private": f"http://{PRIVATE_OK}/",
        "/private-denied": f"http://{PRIVATE_DENIED}/",
        "/redirect": f"http://{PRIVATE_OK}/redirect",
        "/image": f"http://{PRIVATE_OK}/with-metadata-image",
    }
    for name, url in pages.items():
        capture_services.request_run(
            caller,
            build,
            release_name="r1",
            release_number=release.number,
            run_name=name,
            config=capture_config.parse(
                {"viewportSize": {"width": 400, "height": 300}}
            ).with_target(url),
        )
    services.runs_done(caller, build, name="r1", number=release.number)
    wait_for(
        lambda: not Run.objects.filter(release=release, status__in=Run.PENDING).exists(),
        timeout=120,
        message=f"the runs to finish:\n{worker_log.read_text()[-3000:]}",
    )
    runs = {run.name: run for run in Run.objects.filter(release=release)}

    assert runs["/metadata"].status == "failed"
    assert (
        f"{pages['/metadata']} is denied by the capture network policy: {METADATA} "
        "resolves to a link-local address"
    ) in runs["/metadata"].failure_reason
    assert runs["/private"].status == "no_diff_needed", runs["/private"].failure_reason
    assert runs["/private-denied"].status == "failed"
    assert (
        "matches DPXDT_CAPTURE_DENY rule '10.203.1.0/24'" in runs["/private-denied"].failure_reason
    )
    assert runs["/redirect"].status == "failed"
    assert "redirected to http://169.254.169.254" in runs["/redirect"].failure_reason
    assert runs["/image"].status == "no_diff_needed"
    image_log = storage.read_bytes(runs["/image"].log_id).decode()
    assert f"blocked by the capture network policy: http://{METADATA}/pixel.png" in image_log

    served = hits.read_text().splitlines()
    assert served, "the stand-in server saw no request at all"
    assert all(line.split()[1] == PRIVATE_OK for line in served), served  # never the others
    assert {line.split()[2] for line in served} >= {"/", "/redirect", "/with-metadata-image"}
