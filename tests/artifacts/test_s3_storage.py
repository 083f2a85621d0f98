"""Artifacts in S3, against moto's S3 server running as its own process over HTTP."""

import hashlib
import json
import socket
import subprocess
import sys
import time

import boto3
import pytest
from django.test import override_settings

from artifacts import storage
from pdiff import services as pdiff_services
from releases.models import Release, Run
from tests.conftest import BLACK, ROOT, _named, make_png

pytestmark = pytest.mark.e2e

BUCKET = "dpxdt-artifacts"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("moto server did not start")
        time.sleep(0.1)
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "artifacts": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "location": "artifacts",
                "file_overwrite": True,
                "default_acl": None,
            },
        },
    }
    with override_settings(STORAGES=storages):
        yield client
    objects = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    for obj in objects:
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def keys(client):
    return sorted(obj["Key"] for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_upload_dedup_and_download_through_s3(s3, api):
    png = make_png(squares=[(3, 3, 9, BLACK)])
    sha1 = hashlib.sha1(png).hexdigest()
    assert api.upload(png) == sha1
    assert api.upload(png) == sha1
    assert keys(s3) == [f"artifacts/{sha1[:2]}/{sha1}"]  # stored once
    assert s3.get_object(Bucket=BUCKET, Key=keys(s3)[0])["Body"].read() == png

    response = api.get("download", {"build_id": api.build_id, "sha1sum": sha1})
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == png


def test_large_upload_streams_to_s3(s3, api):
    data = bytes(range(256)) * 40_000  # 10 MB, spooled to disk rather than held in memory
    response = api.post(
        "upload", {"build_id": api.build_id, "file": _named(data, "big.bin")}, format="multipart"
    )
    assert response.status_code == 200
    assert storage.read_bytes(response.json()["sha1sum"]) == data


def test_diff_reads_and_writes_s3(s3, keyed):
    release = Release.objects.create(build=keyed.build, name="r", number=1, status="processing")
    before = storage.store_bytes(make_png(), "image/png").artifact
    after = storage.store_bytes(make_png(squares=[(0, 0, 10, BLACK)]), "image/png").artifact
    keyed.build.artifacts.add(before, after)
    run = Run.objects.create(
        release=release, name="/", status="needs_diff", image=after, ref_image=before
    )
    assert pdiff_services.diff_run(run.id) == "found"
    run.refresh_from_db()
    assert f"artifacts/{run.diff_image_id[:2]}/{run.diff_image_id}" in keys(s3)
    assert json.loads(storage.read_bytes(run.diff_log_id))["changed_pixels"] == 100


def test_missing_object_is_reported_as_missing(s3, db):
    with pytest.raises(storage.ArtifactMissing):
        storage.read_bytes("0" * 40)


def test_settings_switch_to_s3_from_the_environment(tmp_path):
    env = {
        "DPXDT_DEBUG": "1",
        "DPXDT_S3_BUCKET": "my-bucket",
        "DPXDT_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "DPXDT_S3_REGION": "eu-west-1",
        "PATH": "/usr/bin:/bin",
        "DPXDT_DATA_DIR": str(tmp_path),
    }
    output = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from django.conf import settings; "
            "options = settings.STORAGES['artifacts']['OPTIONS']; "
            "config = options.pop('client_config'); "
            "print(json.dumps({**settings.STORAGES['artifacts'], 'OPTIONS': options, "
            "'timeouts': [config.connect_timeout, config.read_timeout, config.retries]}))",
        ],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "dpxdt_site.settings"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    config = json.loads(output)
    assert config["BACKEND"] == "storages.backends.s3.S3Storage"
    assert config["OPTIONS"]["bucket_name"] == "my-bucket"
    assert config["OPTIONS"]["endpoint_url"] == "http://127.0.0.1:9000"
    assert config["OPTIONS"]["region_name"] == "eu-west-1"
    # An endpoint that is down fails fast; the pipeline retries the step.
    assert config["timeouts"] == [5, 30, {"max_attempts": 3, "mode": "standard"}]


class _Retry(Exception):
    pass


def test_a_storage_outage_is_retried_without_spending_attempts_and_keeps_its_cause(
    s3, keyed, settings
):
    """The diff task's policy (claim_for_diff inside pdiff.services, run_step around it) while
    the S3 server does not answer: the retries are not further attempts at the run, and the
    run fails after them with the storage error as its reason, not "did not finish after 3
    attempts"."""
    from releases.tasks import run_step

    release = Release.objects.create(build=keyed.build, name="r", number=1, status="processing")
    before = storage.store_bytes(make_png(), "image/png").artifact
    after = storage.store_bytes(make_png(squares=[(0, 0, 10, BLACK)]), "image/png").artifact
    keyed.build.artifacts.add(before, after)
    run = Run.objects.create(
        release=release, name="/", status="needs_diff", image=after, ref_image=before
    )
    down = dict(settings.STORAGES)
    down["artifacts"] = {
        **down["artifacts"],
        "OPTIONS": {
            **down["artifacts"]["OPTIONS"],
            "endpoint_url": f"http://127.0.0.1:{free_port()}",
        },
    }
    settings.STORAGES = down  # the S3 server is unreachable from now on

    class Task:  # what run_step uses of a bound Celery task
        class request:  # noqa: N801
            retries = 0

        def retry(self, exc, countdown, max_retries):
            return _Retry()

    task = Task()
    outcome = None
    for attempt in range(settings.TRANSIENT_RETRIES + 1):
        task.request.retries = attempt
        try:
            outcome = run_step(
                task,
                run.id,
                label="diff",
                time_limit=120,
                work=lambda step: pdiff_services.diff_run(run.id, step),
                transient=pdiff_services.TransientError,
            )
        except _Retry:
            run.refresh_from_db()
            assert run.status == "needs_diff"
            assert run.pipeline_attempts == 1  # the delivery counted once, its retries not
            assert "could not read images from storage" in run.last_error
    assert outcome == "failed"
    run.refresh_from_db()
    assert run.status == "failed"
    tries = settings.TRANSIENT_RETRIES + 1
    assert run.failure_reason.startswith(
        f"diff failed after {tries} tries: could not read images from storage:"
    )
    assert "Could not connect to the endpoint URL" in run.failure_reason
    assert (
        settings.TRANSIENT_RETRIES + 1 > settings.MAX_PIPELINE_ATTEMPTS
    )  # the old code gave up early


def test_a_run_out_of_attempts_says_what_went_wrong_last(keyed):
    from releases import services

    release = Release.objects.create(build=keyed.build, name="r", number=1, status="processing")
    run = Run.objects.create(
        release=release,
        name="/",
        status="needs_diff",
        pipeline_attempts=3,
        last_error="diff: could not store the diff: connection reset",
    )
    assert services.claim_for_diff(run.id) is None
    run.refresh_from_db()
    assert run.failure_reason == (
        "diff did not finish after 3 attempts; the last error: "
        "diff: could not store the diff: connection reset"
    )
