"""The fault suite's stack: every part a real process, as production runs them.

Its own Redis (so that it can be restarted), moto's S3 server behind a gate the test can close,
the system PostgreSQL (a database of its own, ``dpxdt_faults``), gunicorn, a capture worker
(``-Q capture -c 2``) and a diff worker with the sweeper (``-Q diff,default -c 1 -B``), the
README's layout, at the default settings. The pages are served by the test on 127.0.0.1.

At the end of the session a table of faults and their outcomes is printed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.bench.bench_site_diff import bootstrap, free_port
from tests.pages import Site, serve
from tests.processes import celery_worker_command, redis_server_command, stat_fields

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("DPXDT_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/dpxdt")
PG_VERSION = sorted(os.listdir("/etc/postgresql"))[-1] if os.path.isdir("/etc/postgresql") else ""
# Every test setting the suite's environment gives (tests/environment.py) that changes how the
# pipeline behaves: the fault suite runs at the defaults.
TEST_TUNINGS = (
    "DPXDT_CAPTURE_ATTEMPTS",
    "DPXDT_CAPTURE_RETRY_DELAY_SECONDS",
    "DPXDT_WEBHOOK_RETRY_SECONDS",
    "DPXDT_BROKER_KEY_PREFIX",
    "DPXDT_DB_CONN_MAX_AGE",
    "DATABASE_URL",
)

OUTCOMES: list[dict] = []


def pytest_terminal_summary(terminalreporter):
    if not OUTCOMES:
        return
    write = terminalreporter.write_line
    write("")
    write("Faults x outcome (release of 6 runs; default settings)")
    header = (
        f"{'fault':<50} {'reviewing after recovery':>25}  {'statuses':<9} {'artifacts':<10} failed"
    )
    write(header)
    write("-" * len(header))
    for row in OUTCOMES:
        write(
            f"{row['fault']:<50} {row['seconds']:>23.1f} s  {row['statuses']:<9} "
            f"{row['artifacts']:<10} {row['failed']}"
        )


# --- a TCP gate: moto's S3 server reachable or not ------------------------------------------


class Gate:
    """A TCP forwarder on 127.0.0.1 in front of a server. Closed, it refuses new connections
    and cuts the open ones: the server is unreachable, as a network partition or a crashed
    S3 endpoint makes it, but keeps what it stores."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.open()

    def open(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self):
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.close()
        with self.lock:
            for connection in self.connections:
                try:
                    connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                    connection.close()  # a reset, as a dead peer gives
                except OSError as exc:
                    print(f"gate: closing a connection: {exc}")
            self.connections.clear()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a, b):
        selector = selectors.DefaultSelector()
        selector.register(a, selectors.EVENT_READ, b)
        selector.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in selector.select(timeout=1):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):
            return  # the gate cut it, or a peer went away
        finally:
            with self.lock:
                for sock in (a, b):
                    self.connections.discard(sock)
                    try:
                        sock.close()
                    except OSError as exc:
                        print(f"gate: {exc}")


# --- processes ------------------------------------------------------------------------------


def kill_session(process: subprocess.Popen) -> None:
    """SIGKILL a process started in its own session and everything in that session (a
    worker's pool, its Chromium): the whole host going away, as far as it is concerned."""
    sid = process.pid
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = stat_fields((entry / "stat").read_text())
        except OSError:
            continue  # gone already
        if int(fields[3]) == sid:  # fields: state ppid pgrp session ...
            with contextlib.suppress(ProcessLookupError):  # it exited meanwhile: as wanted
                os.kill(int(entry.name), signal.SIGKILL)
    process.wait(timeout=30)


class Service:
    """A process of the stack, restartable, logging to a file."""

    def __init__(self, name: str, command: list[str], env: dict, log_dir: Path, ready=None):
        self.name, self.command, self.env, self.ready = name, command, env, ready
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Start it; returns the moment it was ready (time.monotonic)."""
        log = open(self.log_path, "ab")
        offset = self.log_path.stat().st_size
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 90
        while self.ready and not self.ready(self, offset):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.tail()}")
            time.sleep(0.1)
        return time.monotonic()

    def kill(self):
        kill_session(self.process)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                kill_session(self.process)

    def tail(self, size=4000) -> str:
        return self.log_path.read_bytes()[-size:].decode(errors="replace")


def worker_ready(service: Service, offset: int) -> bool:
    return b" ready." in service.log_path.read_bytes()[offset:]


def port_ready(port: int):
    def ready(service, offset):
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    return ready


def web_server(name: str, port: int, workers: int, threads: int, env: dict, log_dir: Path):
    command = [str(ROOT / ".venv" / "bin" / "gunicorn"), "dpxdt_site.wsgi"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads)]
    server = Service(name, command, env, log_dir, ready=port_ready(port))
    server.start()  # returns once the port answers
    return server


def worker(name: str, queues: str, concurrency: int, env: dict, log_dir: Path, beat=False):
    command = celery_worker_command(queues, concurrency, "-n", f"{name}@%h", "--loglevel", "INFO")
    if beat:
        command += ["-B", "-s", str(log_dir / "celerybeat-schedule")]
    return Service(name, command, env, log_dir, ready=worker_ready)


# --- the stack ------------------------------------------------------------------------------


@dataclass
class Stack:
    env: dict
    api: str
    keys: dict
    site: Site
    redis: Service
    moto: Service
    gate: Gate
    web: Service
    web_one: Service
    web_one_api: str
    capture: Service
    diff: Service
    log_dir: Path

    def post(self, endpoint, api=None, **data):
        response = requests.post(
            f"{api or self.api}/{endpoint}",
            auth=(self.keys["api_key"], self.keys["api_secret"]),
            data={"build_id": self.keys["build_id"], **data},
            timeout=30,
        )
        assert response.status_code == 200, f"{endpoint}: {response.text}"
        return response.json()

    def status(self, release: str, api=None) -> dict:
        return self.post("release_status", api, release_name=release, release_number=1)

    def artifact_intact(self, sha1: str) -> bool:
        response = requests.get(
            f"{self.api}/download",
            params={"build_id": self.keys["build_id"], "sha1sum": sha1},
            auth=(self.keys["api_key"], self.keys["api_secret"]),
            timeout=30,
        )
        return response.status_code == 200 and hashlib.sha1(response.content).hexdigest() == sha1

    def sql(self, query: str) -> list[tuple]:
        result = subprocess.run(
            ["psql", self.env["DATABASE_URL"], "-AtF", "\t", "-c", query],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode:
            raise RuntimeError(result.stderr)
        return [tuple(line.split("\t")) for line in result.stdout.splitlines() if line]

    def logs(self) -> str:
        return "\n".join(
            f"--- {service.name}\n{service.tail()}" for service in (self.capture, self.diff)
        )


def _postgres(command: str) -> None:
    subprocess.run(
        ["psql", PG_URL.rsplit("/", 1)[0] + "/postgres", "-qc", command],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    subprocess.run([str(ROOT / "scripts" / "services.sh"), "postgresql"], check=True)
    log_dir = tmp_path_factory.mktemp("faults")
    site = Site()
    pages = serve(site)
    redis_port, moto_port, web_port, web_one_port = (free_port() for _ in range(4))
    redis = Service(
        "redis",
        redis_server_command(redis_port, log_dir),
        dict(os.environ),
        log_dir,
        ready=port_ready(redis_port),
    )
    moto = Service(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        dict(os.environ),
        log_dir,
        ready=port_ready(moto_port),
    )
    redis.start()
    moto.start()
    gate = Gate(moto_port)
    database = f"dpxdt_faults_{os.getpid()}"
    _postgres(f"DROP DATABASE IF EXISTS {database}")
    _postgres(f"CREATE DATABASE {database}")
    env = {key: value for key, value in os.environ.items() if key not in TEST_TUNINGS}
    env.update(
        {
            "DATABASE_URL": f"{PG_URL.rsplit('/', 1)[0]}/{database}",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
            "DPXDT_DATA_DIR": str(log_dir / "data"),
            "DPXDT_S3_BUCKET": "faults",
            "DPXDT_S3_ENDPOINT_URL": f"http://127.0.0.1:{gate.port}",
            "DPXDT_S3_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "DPXDT_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
            "DPXDT_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    import boto3

    boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{moto_port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket="faults")
    keys = bootstrap(env)
    web = web_server("web", web_port, 2, 4, env, log_dir)
    # One thread, so one kept database connection that the next request surely reuses.
    web_one = web_server("web-one-thread", web_one_port, 1, 1, env, log_dir)
    capture = worker("capture", "capture", 2, env, log_dir)
    diff = worker("diff", "diff,default", 1, env, log_dir, beat=True)
    capture.start()
    diff.start()
    stack = Stack(
        env=env,
        api=f"http://127.0.0.1:{web_port}/api",
        keys=keys,
        site=site,
        redis=redis,
        moto=moto,
        gate=gate,
        web=web,
        web_one=web_one,
        web_one_api=f"http://127.0.0.1:{web_one_port}/api",
        capture=capture,
        diff=diff,
        log_dir=log_dir,
    )
    yield stack  # a test may replace a worker
    for service in (stack.capture, stack.diff, web, web_one, moto, redis):
        service.stop()
    gate.close()
    pages.shutdown()
    pages.server_close()
    _postgres(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
