"""Faults, each injected into a release being processed by the real stack (conftest.py): the
release must reach reviewing with every run's right status and every artifact readable,
within 60 s of the service coming back, at the default settings.

Each release has six runs: three pairs of identical pages (diff_not_found) and three pairs
that differ by a word (diff_found, captured a third time to check for noise). Pages answer
after a delay, so that the fault lands while captures are running.
"""

import json
import subprocess
import time

import requests

from .conftest import OUTCOMES, PG_VERSION, worker

RECOVERY_SECONDS = 60
LEASE_SECONDS = 30  # the default (dpxdt_site.settings), at which the stack runs
CONFIG = json.dumps({"viewportSize": {"width": 800, "height": 600}})
ARTICLE = (
    "<html><head><style>body{{font-family:'DejaVu Sans';margin:32px;background:#fff}}"
    "p{{margin:0 0 {gap}px}}</style></head><body><h1>Release notes {name}</h1>"
    "{paragraphs}</body></html>"
)


def article(name, word, paragraphs=3, gap=16):
    text = "".join(
        f"<p>{i}: the {word} brown fox jumps over the lazy dog.</p>" for i in range(paragraphs)
    )
    return ARTICLE.format(name=name, paragraphs=text, gap=gap)


def start_release(stack, release, *, delay=1.5, tall=False):
    """Create the release and request its six runs; returns {run name: expected status}."""
    stack.post("create_release", release_name=release, url="http://127.0.0.1/")
    size = {"paragraphs": 300, "gap": 24} if tall else {}
    expected = {}
    for i in range(3):
        same = stack.site.add(f"/{release}/same{i}", article(i, "same", **size), delay=delay)
        old = stack.site.add(f"/{release}/old{i}", article(i, "quick", **size), delay=delay)
        new = stack.site.add(f"/{release}/new{i}", article(i, "slow", **size), delay=delay)
        for name, url, ref_url, status in (
            (f"/same{i}", same, same, "diff_not_found"),
            (f"/changed{i}", new, old, "diff_found"),
        ):
            stack.post(
                "request_run",
                release_name=release,
                release_number=1,
                run_name=name,
                url=url,
                config=CONFIG,
                ref_url=ref_url,
                ref_config=CONFIG,
            )
            expected[name] = status
    stack.post("runs_done", release_name=release, release_number=1)
    return expected


def wait_for_lease(stack, release, steps, timeout=60):
    """Block until a worker holds one of ``steps`` of the release's runs (work in progress)."""
    names = ",".join(f"'{step}'" for step in steps)
    query = (
        "SELECT count(*) FROM releases_lease l JOIN releases_run r ON r.id = l.run_id "
        "JOIN releases_release e ON e.id = r.release_id "
        f"WHERE e.name = '{release}' AND l.step IN ({names})"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if int(stack.sql(query)[0][0]):
            return
        time.sleep(0.02)
    raise AssertionError(f"no worker held {steps} of {release} within {timeout} s\n{stack.logs()}")


def reviewing_after(stack, release, back: float) -> tuple[float, dict]:
    """Seconds from ``back`` until the release reached reviewing, and its status."""
    deadline = back + RECOVERY_SECONDS + 30  # seen late is measured, then failed below
    status = {}
    while time.monotonic() < deadline:
        try:
            status = stack.status(release)
        except (requests.RequestException, AssertionError):
            time.sleep(0.5)  # the web server's database may be coming back too
            continue
        if status["status"] == "reviewing":
            return time.monotonic() - back, status
        time.sleep(0.25)
    raise AssertionError(
        f"{release} still {status.get('status')} {status.get('counts')} "
        f"{RECOVERY_SECONDS + 30} s after recovery\n{stack.logs()}"
    )


def check_outcome(stack, fault, release, expected, back):
    seconds, status = reviewing_after(stack, release, back)
    runs = {run["name"]: run for run in status["runs"]}
    wrong = {
        name: (runs[name]["status"], runs[name]["failure_reason"])
        for name in expected
        if runs[name]["status"] != expected[name]
    }
    artifacts = [
        run[field]
        for run in runs.values()
        for field in ("image", "ref_image", "log", "ref_log", "diff_image")
        if run[field]
    ]
    lost = [sha1 for sha1 in artifacts if not stack.artifact_intact(sha1)]
    missing = [
        name
        for name, run in runs.items()
        if not (run["image"] and run["ref_image"])
        or (run["status"] == "diff_found" and not run["diff_image"])
    ]
    failed = [
        f"{name}: {run['failure_reason']}" for name, run in runs.items() if run["failure_reason"]
    ]
    OUTCOMES.append(
        {
            "fault": fault,
            "seconds": seconds,
            "statuses": "right" if not wrong else f"{len(wrong)} wrong",
            "artifacts": f"{len(artifacts) - len(lost)}/{len(artifacts)}",
            "failed": len(failed),
        }
    )
    assert not wrong, f"{wrong}\n{stack.logs()}"
    assert not lost and not missing, (lost, missing)
    assert seconds <= RECOVERY_SECONDS, f"{seconds:.1f} s\n{stack.logs()}"
    return seconds


def test_a_capture_worker_killed_mid_capture_and_restarted(stack):
    """Restarted under its name (a restarted container or host), the worker frees the steps
    its killed process held at once: recovery does not wait for their leases to expire."""
    expected = start_release(stack, "kill-capture", delay=1.5)
    wait_for_lease(stack, "kill-capture", ("run", "ref"))
    stack.capture.kill()  # SIGKILL: the worker, its pool and its Chromium
    back = stack.capture.start()
    seconds = check_outcome(
        stack, "SIGKILL capture worker mid-capture, restarted", "kill-capture", expected, back
    )
    assert "held by this worker's earlier process, which is gone" in stack.capture.tail(20000)
    assert seconds < LEASE_SECONDS, f"{seconds:.1f} s: waited for the leases to expire"


def test_a_diff_worker_killed_mid_diff_and_replaced(stack):
    """Another worker takes over (the killed one's host is gone): the killed worker's leases
    expire and the sweeper hands their steps to it."""
    expected = start_release(stack, "kill-diff", delay=0, tall=True)
    wait_for_lease(stack, "kill-diff", ("diff",), timeout=120)
    stack.diff.kill()  # the diff worker and the sweeper (-B) with it
    stack.diff = worker("diff-replacement", "diff,default", 1, stack.env, stack.log_dir, beat=True)
    back = stack.diff.start()
    check_outcome(
        stack, "SIGKILL diff worker (and beat) mid-diff, replaced", "kill-diff", expected, back
    )
    assert "earlier process" not in stack.diff.tail(20000)


def test_redis_restarted_mid_release(stack):
    expected = start_release(stack, "redis", delay=1)
    wait_for_lease(stack, "redis", ("run", "ref"))
    stack.redis.stop()  # no persistence: every queued message is gone
    time.sleep(3)
    back = stack.redis.start()
    check_outcome(stack, "Redis restarted (messages lost)", "redis", expected, back)


def test_postgresql_restarted_mid_release(stack):
    expected = start_release(stack, "postgres", delay=1)
    wait_for_lease(stack, "postgres", ("run", "ref"))
    stack.status("postgres", stack.web_one_api)  # its one thread now keeps a connection
    cluster = ["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, "main"]
    subprocess.run([*cluster, "stop", "-m", "fast"], check=True)
    time.sleep(3)
    subprocess.run([*cluster, "start"], check=True)
    back = time.monotonic()
    # The kept connection is dead: the web server must notice and reconnect, not answer 500.
    stack.status("postgres", stack.web_one_api)
    check_outcome(stack, "PostgreSQL restarted", "postgres", expected, back)


def test_s3_unreachable_for_30_seconds(stack):
    expected = start_release(stack, "s3", delay=1)
    wait_for_lease(stack, "s3", ("run", "ref"))
    stack.gate.close()  # refused and reset: moto keeps what it stored
    time.sleep(30)
    stack.gate.open()
    back = time.monotonic()
    check_outcome(stack, "S3 (moto) unreachable for 30 s", "s3", expected, back)
