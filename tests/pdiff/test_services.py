"""The diff step with real storage and database; the task wrapper is exercised end to end in
tests/e2e with a real worker."""

import json

import pytest

from artifacts import storage
from pdiff import services
from releases.models import Release, Run
from tests.conftest import BLACK, make_png


@pytest.fixture
def pair(keyed):
    def factory(before: bytes, after: bytes, **build_settings):
        for name, value in build_settings.items():
            setattr(keyed.build, name, value)
        keyed.build.save()
        release = Release.objects.create(build=keyed.build, name="r", number=1,
                                          status="processing")
        images = {}
        for side, data in (("ref_image", before), ("image", after)):
            artifact = storage.store_bytes(data, "image/png").artifact
            keyed.build.artifacts.add(artifact)
            images[side] = artifact
        return Run.objects.create(release=release, name="/page", status="needs_diff", **images)
    return factory


def test_diff_found_records_everything(pair):
    run = pair(make_png(squares=[(20, 20, 20, BLACK)]), make_png(squares=[(120, 120, 20, BLACK)]))
    assert services.diff_run(run.id) == "found"
    run.refresh_from_db()
    assert run.status == "diff_found"
    assert run.changed_pixels == 800
    assert run.distortion == pytest.approx(0.02)
    assert storage.read_bytes(run.diff_image_id).startswith(b"\x89PNG")
    log = json.loads(storage.read_bytes(run.diff_log_id))
    assert log["changed_pixels"] == 800
    assert log["before"] == run.ref_image_id and log["after"] == run.image_id
    assert run.release.build.artifacts.filter(sha1=run.diff_image_id).exists()
    assert Release.objects.get().status == "reviewing"


def test_same_pixels_are_diff_not_found(pair):
    run = pair(make_png(compress_level=1), make_png(compress_level=9))
    assert services.diff_run(run.id) == "same"
    run.refresh_from_db()
    assert run.status == "diff_not_found"
    assert run.diff_image_id is None and run.diff_log_id is not None


def test_build_threshold_is_used(pair):
    light = make_png(squares=[(0, 0, 10, (235, 235, 235, 255))])
    run = pair(make_png(), light, diff_threshold=0.3)
    assert services.diff_run(run.id) == "same"


def test_build_tolerance_on_changed_pixels(pair):
    run = pair(make_png(), make_png(squares=[(0, 0, 10, BLACK)]), max_distortion=0.01)
    assert services.diff_run(run.id) == "same"  # 100 of 40000 pixels = 0.25 %
    run.refresh_from_db()
    assert run.changed_pixels == 100


def test_corrupt_image_fails_the_run_with_a_reason(pair):
    run = pair(make_png(), b"\x89PNG\r\n\x1a\n truncated")
    assert services.diff_run(run.id) == "failed"
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.failure_reason.startswith("diff failed: after image cannot be decoded")
    assert Release.objects.get().status == "reviewing"


def test_missing_bytes_fail_the_run(pair):
    run = pair(make_png(), make_png(squares=[(0, 0, 3, BLACK)]))
    storage.backend().delete(storage.key_for(run.image_id))
    assert services.diff_run(run.id) == "failed"
    run.refresh_from_db()
    assert "has no stored bytes" in run.failure_reason


def test_result_for_stale_inputs_is_dropped(pair, monkeypatch):
    run = pair(make_png(), make_png(squares=[(0, 0, 3, BLACK)]))
    newer = storage.store_bytes(make_png(squares=[(5, 5, 3, BLACK)]), "image/png").artifact
    real_compare = services.core.compare

    def compare_then_inputs_change(*args, **kwargs):
        Run.objects.filter(pk=run.pk).update(image=newer)  # a report arrived meanwhile
        return real_compare(*args, **kwargs)

    monkeypatch.setattr(services.core, "compare", compare_then_inputs_change)
    assert services.diff_run(run.id) == "dropped"
    run.refresh_from_db()
    assert run.status == "needs_diff"


def test_storage_outage_is_transient(pair, monkeypatch):
    run = pair(make_png(), make_png(squares=[(0, 0, 3, BLACK)]))

    def unreachable(sha1):
        raise ConnectionError("storage endpoint unreachable")

    monkeypatch.setattr(services.storage, "read_bytes", unreachable)
    with pytest.raises(services.TransientError, match="unreachable"):
        services.diff_run(run.id)


def with_config(run, config: dict):
    artifact = storage.store_bytes(json.dumps(config).encode(), "application/json").artifact
    run.release.build.artifacts.add(artifact)
    Run.objects.filter(pk=run.pk).update(config=artifact)
    return run


def test_run_config_threshold_overrides_the_build(pair):
    light = make_png(squares=[(0, 0, 10, (235, 235, 235, 255))])
    run = with_config(pair(make_png(), light, diff_threshold=0.0), {"diffThreshold": 0.3})
    assert services.diff_run(run.id) == "same"


def test_run_config_tolerance_overrides_the_build(pair):
    run = with_config(pair(make_png(), make_png(squares=[(0, 0, 10, BLACK)])),
                      {"maxDistortion": 0.01})
    assert services.diff_run(run.id) == "same"
    log = json.loads(storage.read_bytes(Run.objects.get(pk=run.pk).diff_log_id))
    assert log["max_distortion"] == 0.01


def test_a_config_that_is_not_ours_changes_nothing(pair):
    run = with_config(pair(make_png(), make_png(squares=[(0, 0, 10, BLACK)])),
                      {"diffThreshold": "lenient", "maxDistortion": 5})
    assert services.diff_run(run.id) == "found"
