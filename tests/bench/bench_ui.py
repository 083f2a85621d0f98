"""make bench: server time of the review pages for a release with 5,000 runs (target ≤ 300 ms).

A scratch SQLite database (or DATABASE_URL's) gets one build with a 5,000-run release (a mix
of statuses, as after a big site diff); the release page (first and a middle page of runs)
and the run page (a run in the middle, with its previous/next) are rendered by Django's test
client in this process, and the median of several requests is printed with the query count.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DPXDT_DATA_DIR", tempfile.mkdtemp(prefix="dpxdt-bench-ui-"))
os.environ.setdefault("DPXDT_DEBUG", "1")
os.environ.setdefault("DPXDT_LOG_LEVEL", "WARNING")
os.environ.setdefault("DPXDT_ALLOWED_HOSTS", "testserver")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dpxdt_site.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from artifacts import storage  # noqa: E402
from releases import services  # noqa: E402
from releases.models import Release, Run  # noqa: E402

RUNS = 5000
STATUSES = (
    ["diff_not_found"] * 80
    + ["diff_found"] * 12
    + ["diff_approved"] * 4
    + ["failed"] * 2
    + ["no_diff_needed"] * 2
)


def populate():
    user = get_user_model().objects.create_user("bench", "bench@example.com", "bench-pass-1")
    build = services.create_build(name="Big site", owner=user)
    images = [storage.store_bytes(f"image {i}".encode(), "image/png").artifact for i in range(3)]
    build.artifacts.add(*images)
    release = Release.objects.create(build=build, name="big", number=1, status="reviewing")
    Run.objects.bulk_create(
        [
            Run(
                release=release,
                name=f"/docs/page-{i:05d}",
                status=STATUSES[i % len(STATUSES)],
                image=images[0],
                ref_image=images[1],
                diff_image=images[2] if STATUSES[i % len(STATUSES)].startswith("diff_f") else None,
                changed_pixels=100 + i,
                distortion=0.001,
            )
            for i in range(RUNS)
        ],
        batch_size=1000,
    )
    return user, build, release


def median_ms(client, url, repeat=10):
    client.get(url)  # warm-up
    samples = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(samples), len(queries)


def main():
    call_command("migrate", verbosity=0)
    user, build, release = populate()
    client = Client()
    client.force_login(user)
    base = f"id={build.id}&name=big&number=1"
    pages = {
        "release page, first 100 runs": f"/release?{base}",
        "release page, runs 2401-2500": f"/release?{base}&page=25",
        "release page, only changed runs": f"/release?{base}&status=diff_found",
        "run page, a run in the middle": f"/run?{base}&test=/docs/page-02500",
        "build page": f"/build?id={build.id}",
    }
    print(f"{RUNS} runs in one release, {connection.vendor}:")
    for label, url in pages.items():
        ms, queries = median_ms(client, url)
        verdict = "ok" if ms <= 300 else "OVER 300 ms"
        print(f"  {label:36s} {ms:7.1f} ms  {queries:3d} queries  {verdict}")


if __name__ == "__main__":
    main()
