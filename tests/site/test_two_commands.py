"""The README's first command on a clean clone: make run answers on its URL with nothing set
in the environment, and manage.py works in a fresh shell."""

import os
import signal
import socket
import subprocess
import time

import pytest
import requests

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def clone(tmp_path):
    """A clean clone of this checkout's HEAD, sharing its virtualenv (installing another one
    takes minutes and tests pip, not Depicted)."""
    target = tmp_path / "depicted"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True, timeout=120)
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


def empty_environment(**extra):
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        **extra,
    }


def test_make_run_answers_on_its_url_in_an_empty_environment(clone):
    port = free_port()
    log_path = clone / "make-run.log"
    # -o: the shared virtualenv counts as installed (its marker is older than the clone).
    process = subprocess.Popen(
        ["make", "-o", ".venv/.installed", "run"],
        cwd=clone,
        env=empty_environment(DPXDT_PORT=str(port)),
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        answer = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/login", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        assert answer is not None, f"make run never answered (exit {process.poll()})"
        assert answer.status_code == 200 and "Depicted" in answer.text
        key = (clone / "var" / "secret_key").read_text().strip()
        assert len(key) >= 50  # made on first use, kept with the data
        assert requests.get(f"http://127.0.0.1:{port}/favicon.ico", timeout=5).status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    output = log_path.read_text()
    assert f"Depicted is running at http://127.0.0.1:{port}/" in output, output


def test_manage_py_in_a_fresh_shell_of_a_clean_clone(clone):
    python = str(clone / ".venv" / "bin" / "python")
    result = subprocess.run(
        [python, "manage.py", "dpxdt_local", "--help"],
        cwd=clone,
        env=empty_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "update" in result.stdout and "test" in result.stdout
    migrate = subprocess.run(
        [python, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=clone,
        env=empty_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr
    bootstrap = subprocess.run(
        [python, "manage.py", "dpxdt_bootstrap", "--json"],
        cwd=clone,
        env=empty_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bootstrap.returncode == 0, bootstrap.stderr
    assert '"api_secret"' in bootstrap.stdout
