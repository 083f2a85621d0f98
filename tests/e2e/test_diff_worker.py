"""End to end: the HTTP API on a live server, a real Celery worker process on real Redis.

Nothing is faked: uploads go through the API into storage, report_run queues the diff after
commit, the worker (a separate process) diffs and records, and release_status is polled."""

import os
import signal
import time

import pytest

from releases.models import Run
from tests.conftest import BLACK, make_png, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_uploaded_pair_is_diffed_by_a_real_worker(live):
    live.post("create_release", release_name="r1", url="https://example.com/r1")
    before = live.upload(make_png(squares=[(20, 20, 20, BLACK)]))
    after = live.upload(make_png(squares=[(120, 120, 20, BLACK)]))
    # Same pixels, different bytes: the worker has to decode and compare to say "same".
    same_a = live.upload(make_png(compress_level=1))
    same_b = live.upload(make_png(compress_level=9))
    live.post(
        "report_run",
        release_name="r1",
        release_number=1,
        run_name="/changed",
        image=after,
        ref_image=before,
    )
    live.post(
        "report_run",
        release_name="r1",
        release_number=1,
        run_name="/same",
        image=same_b,
        ref_image=same_a,
    )
    done = live.post("runs_done", release_name="r1", release_number=1)
    assert done["results_url"].endswith(f"/release?id={live.build_id}&name=r1&number=1")

    status = live.wait_until_reviewing()
    runs = {run["name"]: run for run in status["runs"]}
    assert runs["/changed"]["status"] == "diff_found"
    assert runs["/changed"]["changed_pixels"] == 800
    assert runs["/changed"]["distortion"] == pytest.approx(0.02)
    assert runs["/same"]["status"] == "diff_not_found"
    assert runs["/same"]["changed_pixels"] == 0
    assert status["complete"] is True

    diff = live.session.get(
        f"{live.base}/download",
        params={"build_id": live.build_id, "sha1sum": runs["/changed"]["diff_image"]},
        timeout=30,
    )
    assert diff.status_code == 200
    assert diff.headers["Content-Type"] == "image/png"
    assert diff.content.startswith(b"\x89PNG")


def test_corrupt_upload_ends_the_run_failed_and_the_release_finishes(live):
    live.post("create_release", release_name="r1")
    good = live.upload(make_png())
    corrupt = live.upload(make_png()[:80] + b"not the rest of a png")
    live.post(
        "report_run",
        release_name="r1",
        release_number=1,
        run_name="/corrupt",
        image=corrupt,
        ref_image=good,
    )
    live.post("runs_done", release_name="r1", release_number=1)
    run = live.wait_until_reviewing()["runs"][0]
    assert run["status"] == "failed"
    assert run["failure_reason"].startswith("diff failed: after image cannot be decoded")


def test_worker_killed_mid_diff_loses_nothing(live, celery_worker):
    """The pool process dies while diffing: the message goes back to the queue (acks_late +
    reject_on_worker_lost) and the next attempt finishes the run."""
    live.post("create_release", release_name="r1")
    # Two wholly different tall images: enough work that the kill lands mid-diff.
    before = live.upload(make_png(1600, 6000))
    after = live.upload(make_png(1600, 6000, background=BLACK))
    live.post(
        "report_run",
        release_name="r1",
        release_number=1,
        run_name="/big",
        image=after,
        ref_image=before,
    )
    live.post("runs_done", release_name="r1", release_number=1)

    run = Run.objects.get(name="/big")
    wait_for(
        lambda: Run.objects.get(pk=run.pk).pipeline_attempts >= 1,
        timeout=60,
        message="the worker to claim the diff",
    )
    assert Run.objects.get(pk=run.pk).status == "needs_diff"
    children = celery_worker.pool_children()
    assert children, celery_worker.output()
    for pid in children:
        os.kill(pid, signal.SIGKILL)

    status = live.wait_until_reviewing(timeout=120)
    result = status["runs"][0]
    assert result["status"] == "diff_found", celery_worker.output()
    assert result["changed_pixels"] == 1600 * 6000
    assert Run.objects.get(pk=run.pk).pipeline_attempts == 2


def test_moved_content_is_reported_as_a_shift_by_the_worker(live):
    import json

    from tests.pdiff.test_verdict import png, striped_page

    lines = [(70, 70 + (n * 37) % 150) for n in range(40)]
    before = live.upload(png(striped_page(lines)))
    after = live.upload(png(striped_page(lines[:6] + [(70, 230), (70, 140)] + lines[6:])))
    live.post("create_release", release_name="r1")
    live.post(
        "report_run",
        release_name="r1",
        release_number=1,
        run_name="/docs",
        image=after,
        ref_image=before,
    )
    live.post("runs_done", release_name="r1", release_number=1)
    result = live.wait_until_reviewing()["runs"][0]
    assert result["status"] == "diff_found"
    run = Run.objects.get(name="/docs")
    log = json.loads(
        live.session.get(
            f"{live.base}/download",
            params={"build_id": live.build_id, "sha1sum": run.diff_log_id},
            timeout=30,
        ).content
    )
    assert [shift["dy"] for shift in log["shifts"]] == [24]
    assert log["summary"].startswith("1 block changed at y=")
    assert "moved down 24 px" in log["summary"] and "(before y=" in log["summary"]
    assert log["aligned_changed_pixels"] < log["changed_pixels"] / 5
    assert log["distortion"] == pytest.approx(result["distortion"])  # unaligned, as before
    aligned = live.session.get(
        f"{live.base}/download",
        params={"build_id": live.build_id, "sha1sum": run.aligned_diff_image_id},
        timeout=30,
    )
    assert aligned.status_code == 200 and aligned.content.startswith(b"\x89PNG")


def test_a_jpeg_or_a_bomb_fails_the_run_at_once_with_the_reason(live):
    import io

    from PIL import Image

    from tests.pdiff.test_core import png_header

    out = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(out, format="JPEG")
    png = live.upload(make_png())
    jpeg = live.upload(out.getvalue(), filename="shot.jpg")
    bomb = live.upload(png_header(20_000, 20_000), filename="bomb.png")
    live.post("create_release", release_name="r1")
    live.post(
        "report_run",
        release_name="r1",
        release_number=1,
        run_name="/jpeg",
        image=jpeg,
        ref_image=png,
    )
    live.post(
        "report_run",
        release_name="r1",
        release_number=1,
        run_name="/bomb",
        image=bomb,
        ref_image=png,
    )
    live.post("runs_done", release_name="r1", release_number=1)
    runs = {run["name"]: run for run in live.wait_until_reviewing(timeout=60)["runs"]}
    assert runs["/jpeg"]["status"] == "failed"
    assert runs["/jpeg"]["failure_reason"] == "diff failed: after image is not a PNG image: JPEG"
    assert runs["/bomb"]["failure_reason"].startswith(
        "diff failed: after image is too large: 20000x20000 is 400,000,000 pixels"
    )
    # At once: one attempt each, no retries.
    assert {run.pipeline_attempts for run in Run.objects.all()} == {1}


def test_a_14142_square_pair_is_diffed_by_the_worker_within_a_minute(live, tmp_path):
    """The largest screenshots the diff accepts (200 MP each, page-like), through the API and a
    real worker; memory is measured in tests/pdiff/test_memory.py."""
    from tests.pdiff.test_memory import make

    before = make(tmp_path, "before.png", 14142, 14142).read_bytes()
    after = make(tmp_path, "after.png", 14142, 14142, changed=True).read_bytes()
    live.post("create_release", release_name="r1")
    live.post(
        "report_run",
        release_name="r1",
        release_number=1,
        run_name="/huge",
        image=live.upload(after),
        ref_image=live.upload(before),
    )
    started = time.monotonic()
    live.post("runs_done", release_name="r1", release_number=1)
    run = live.wait_until_reviewing(timeout=90)["runs"][0]
    assert time.monotonic() - started < 60
    assert run["status"] == "diff_found", run
    assert run["changed_pixels"] == 299 * 299
