"""make bench: a 200-page local site end to end (crawl, capture, diff) with one worker.

Starts what `make run` starts (a web server and one Celery worker serving every queue, here on
Redis when it answers, else the filesystem broker) on a scratch data directory, serves a
generated 200-page site from 127.0.0.1, and times `dpxdt site-diff --wait` twice: the first
release (every page new: crawl + capture), then, after marking it good and changing five
pages, the second (crawl + capture + diff). Target: each within 3 minutes.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.processes import celery_worker_command  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
PAGES = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def write_site(folder: Path, changed=()):
    style = (
        "body{font-family:'DejaVu Sans',sans-serif;margin:32px;color:#223}"
        ".card{border:1px solid #ccd;border-radius:8px;padding:12px;margin:12px 0}"
    )
    links = "".join(f"<li><a href='page{i}.html'>Page {i}</a></li>" for i in range(1, PAGES))
    (folder / "index.html").write_text(
        f"<html><head><style>{style}</style></head><body>"
        f"<h1>Docs</h1><ul>{links}</ul></body></html>"
    )
    for i in range(1, PAGES):
        extra = "h1{color:#c00}" if i in changed else ""
        body = "".join(
            f"<div class='card'><h2>Part {j}</h2><p>Page {i}, part {j}: the quick "
            "brown fox jumps over the lazy dog.</p></div>"
            for j in range(4)
        )
        (folder / f"page{i}.html").write_text(
            f"<html><head><style>{style}{extra}</style></head><body><h1>Page {i}</h1>{body}"
            f"<a href='index.html'>Home</a> <a href='page{i % (PAGES - 1) + 1}.html'>Next</a>"
            "</body></html>"
        )


def client_env(env: dict, api: str, keys: dict) -> dict:
    """The environment the dpxdt client tools read their server and key from."""
    return {
        **env,
        "DPXDT_RELEASE_SERVER_PREFIX": api,
        "DPXDT_RELEASE_CLIENT_ID": keys["api_key"],
        "DPXDT_RELEASE_CLIENT_SECRET": keys["api_secret"],
        "DPXDT_UPLOAD_BUILD_ID": str(keys["build_id"]),
    }


def run_site_diff(tool_env: dict, release: str, start_url: str, *options):
    """`dpxdt site-diff --wait`: (seconds, exit code, its summary line or error)."""
    started = time.monotonic()
    result = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "dpxdt"),
            "site-diff",
            "--wait",
            "--upload_release_name",
            release,
            "--crawl_rate",
            "100",
            *options,
            start_url,
        ],
        env=tool_env,
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - started
    summary = [line for line in result.stdout.splitlines() if " runs: " in line]
    return seconds, result.returncode, summary[0] if summary else result.stderr[-300:]


def redis_up() -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", 6379)) == 0


def server_env(scratch: Path) -> dict:
    """The environment of a server on SQLite in ``scratch``, as production runs it: debug mode
    off (with it on, Django keeps every SQL query of a worker in memory: 2-3 % more CPU in the
    end-to-end release of bench_docs), with a secret key of its own."""
    env = {
        **os.environ,
        "DPXDT_DATA_DIR": str(scratch / "data"),
        "DPXDT_DEBUG": "0",
        "DPXDT_SECRET_KEY": secrets.token_urlsafe(50),
        "DPXDT_LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    return env


def bootstrap(env: dict) -> dict:
    """Migrate the benchmark's database and make its admin, build and API key."""
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    output = subprocess.run(
        [PY, "manage.py", "dpxdt_bootstrap", "--json"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output)


def mark_good(api: str, keys: dict, release: str) -> None:
    """Mark attempt #1 of ``release`` good: the baseline of the next release."""
    requests.post(
        f"{api}/mark_release",
        auth=(keys["api_key"], keys["api_secret"]),
        data={
            "build_id": keys["build_id"],
            "release_name": release,
            "release_number": 1,
            "status": "good",
        },
        timeout=30,
    ).raise_for_status()


def start_web(env: dict, port: int, **io) -> subprocess.Popen:
    """The web server as production runs it (gunicorn, 2 workers x 4 threads)."""
    return subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "dpxdt_site.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
        ],
        cwd=ROOT,
        env=env,
        **io,
    )


def start_site(folder: Path, port: int, **io) -> subprocess.Popen:
    """A static site on 127.0.0.1 (what the crawler visits)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(folder),
        ],
        **io,
    )


def main():
    scratch = Path(tempfile.mkdtemp(prefix="dpxdt-bench-site-"))
    site_dir = scratch / "site"
    site_dir.mkdir()
    write_site(site_dir)
    env = server_env(scratch)
    if redis_up():
        env["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/0"
        env["DPXDT_BROKER_KEY_PREFIX"] = f"dpxdt-bench-{os.getpid()}:"
    broker = env.get("CELERY_BROKER_URL", "filesystem://")
    keys = bootstrap(env)
    web_port, site_port = free_port(), free_port()
    processes = [
        start_web(env, web_port, stderr=subprocess.DEVNULL),
        subprocess.Popen(
            celery_worker_command("capture,diff,default", 1, "--loglevel", "WARNING"),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        start_site(site_dir, site_port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        wait_port(web_port)
        wait_port(site_port)
        api = f"http://127.0.0.1:{web_port}/api"
        tool_env = client_env(env, api, keys)
        print(
            f"{PAGES}-page site, one worker (-c 1, broker {broker.split(':')[0]}), "
            f"{os.cpu_count()} cores"
        )

        def site_diff(release):
            seconds, code, summary = run_site_diff(
                tool_env, release, f"http://127.0.0.1:{site_port}/"
            )
            print(f"  {release}: {seconds:6.1f} s, exit {code}, {summary}")
            return seconds

        first = site_diff("baseline")
        mark_good(api, keys, "baseline")
        write_site(site_dir, changed={7, 42, 99, 150, 180})
        second = site_diff("changed")
        print(
            f"  target 180 s each: baseline {'met' if first <= 180 else 'MISSED'}, "
            f"with diffs {'met' if second <= 180 else 'MISSED'} "
            f"({PAGES / second * 60:.0f} pages/min end to end)"
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
