"""Fair sharing between builds, with a real worker on Redis and real Chromium: one build's
10,000-page crawl does not hold back another build's 5-page release."""

import json
import time

import pytest
from django.db.models import Count

from releases import access, services
from releases.models import ApiKey, Release, Run
from releases.services import scheduling
from tests.e2e.conftest import LiveApi

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAGE = "<html><body style='font-family:DejaVu Sans'><h1>Page {n}</h1></body></html>"


def test_a_small_release_is_not_queued_behind_another_builds_big_crawl(
    live_server, celery_worker, site, settings
):
    big = services.create_build(name="Crawl")
    crawl = services.create_release(access.Caller(), big, name="crawl")
    url = site.add("/big", PAGE.format(n="big"))
    config = services.store_artifact_for(
        big,
        json.dumps({"targetUrl": url, "viewportSize": {"width": 400, "height": 300}}).encode(),
        "application/json",
    )
    # The crawl's 10,000 runs, written as request_run leaves them (captures wanted, not yet
    # sent): 10,000 request_run calls would take minutes. Sending is what is tested.
    Run.objects.bulk_create(
        Run(release=crawl, name=f"/page{n}", url=url, config=config) for n in range(10_000)
    )
    sent = scheduling.dispatch(big.id)
    assert sent == settings.BUILD_CAPTURES_IN_FLIGHT  # the rest wait in the database

    small = services.create_build(name="Docs")
    key, secret = ApiKey.create(build=small, purpose="e2e")
    api = LiveApi(live_server.url, small.id, key.id, secret)
    api.post("create_release", release_name="r1")
    for n in range(5):
        url = site.add(f"/small{n}", PAGE.format(n=n))
        api.post(
            "request_run",
            release_name="r1",
            release_number=1,
            run_name=f"/small{n}",
            url=url,
            config='{"viewportSize": {"width": 400, "height": 300}}',
        )
    api.post("runs_done", release_name="r1", release_number=1)
    started = time.monotonic()
    status = api.wait_until_reviewing(timeout=120)
    took = time.monotonic() - started
    assert status["counts"]["failed"] == 0, status
    pending = Run.objects.filter(release=crawl, status__in=Run.PENDING).count()
    in_flight = Run.objects.filter(release=crawl, status="data_pending", queued_at__isnull=False)
    print(f"small release reviewed in {took:.1f} s; the crawl has {pending} runs to go")
    assert pending > 9_900  # the crawl goes on: the small release did not wait for it
    assert in_flight.count() <= settings.BUILD_CAPTURES_IN_FLIGHT
    done = Run.objects.filter(release=crawl).exclude(status__in=Run.PENDING)
    assert done.count() >= 1  # and the crawl was being captured all along, in turn
    counts = dict(done.values_list("status").annotate(n=Count("id")))
    reasons = set(done.values_list("failure_reason", flat=True))
    assert set(counts) <= {"diff_not_found", "no_diff_needed"}, (counts, reasons)
    # Stop the crawl; its queued captures find nothing to do.
    Release.objects.filter(pk=crawl.pk).delete()
