import pytest

from releases.models import AuditLog, Release, Run
from tests.conftest import BLACK, make_png


def test_image_without_reference_is_a_baseline(api):
    api.create_release()
    image = api.upload(make_png())
    response = api.report("/home", image=image, url="https://example.com/home")
    assert response.status_code == 200
    assert response.json() == {"success": True}
    run = Run.objects.get(name="/home")
    assert run.status == "no_diff_needed"
    assert run.image_id == image
    assert run.url == "https://example.com/home"


def test_both_images_queue_a_diff_after_commit(
    api, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(
        "releases.pipeline._send",
        lambda signature, run_id: (
            sent.append((signature.task, signature.args, signature.options.get("queue"))) or True
        ),
    )
    api.create_release()
    before = api.upload(make_png(squares=[(0, 0, 10, BLACK)]))
    after = api.upload(make_png())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        api.report("/home", image=after, ref_image=before)
    run = Run.objects.get(name="/home")
    assert run.status == "needs_diff"
    assert len(callbacks) == 1
    assert sent == [("dpxdt.pdiff.diff_run", (run.id,), "diff")]


def test_identical_images_need_no_diff_at_all(api, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("releases.pipeline._send", lambda signature, run_id: sent.append(run_id))
    api.create_release()
    image = api.upload(make_png())
    with django_capture_on_commit_callbacks(execute=True):
        api.report("/same", image=image, ref_image=image)
    run = Run.objects.get(name="/same")
    assert run.status == "diff_not_found"
    assert run.distortion == 0.0 and run.changed_pixels == 0
    assert sent == []


def test_reference_pending_keeps_the_run_pending(api):
    api.create_release()
    api.report("/pair", image=api.upload(make_png()), ref_url="https://example.com/before")
    assert Run.objects.get(name="/pair").status == "data_pending"


def test_run_failed_is_terminal_with_the_reason(api):
    api.create_release()
    api.report("/broken", run_failed="page answered 500")
    run = Run.objects.get(name="/broken")
    assert run.status == "failed"
    assert run.failure_reason == "run failed: page answered 500"


def test_client_reported_diff(api):
    api.create_release()
    before, after = api.upload(make_png()), api.upload(make_png(squares=[(0, 0, 5, BLACK)]))
    diff = api.upload(make_png(squares=[(0, 0, 5, (255, 0, 0, 255))]))
    api.report("/client", image=after, ref_image=before, diff_image=diff, distortion="0.25")
    run = Run.objects.get(name="/client")
    assert run.status == "diff_found"
    assert run.distortion == 0.25


def test_artifacts_of_another_build_are_refused(api, make_build):
    api.create_release()
    own = api.upload(make_png())
    mine = api.keyed
    api.keyed = make_build("Other")
    foreign = api.upload(make_png(squares=[(1, 1, 3, BLACK)]))
    api.keyed = mine
    response = api.report("/x", image=own, ref_image=foreign)
    assert response.status_code == 404
    assert response.json()["error"] == f"artifact {foreign} not found in build {api.build_id}"
    assert not Run.objects.filter(name="/x").exists()


def test_bad_sha1_names_the_field(api):
    api.create_release()
    response = api.report("/x", image="not-a-sha1")
    assert response.status_code == 400
    assert response.json()["error"] == "image: must be a 40-character SHA-1 hex digest"


def test_unknown_release_is_404(api):
    response = api.report("/x", release="nope")
    assert response.status_code == 404
    assert response.json()["error"] == f"release 'nope' #1 not found in build {api.build_id}"


def test_closed_release_accepts_no_reports(api):
    api.create_release()
    api.post(
        "mark_release",
        {"build_id": api.build_id, "release_name": "r1", "release_number": 1, "status": "good"},
    )
    response = api.report("/late", image=api.upload(make_png()))
    assert response.status_code == 400
    assert "is good; it accepts no more runs" in response.json()["error"]


def test_new_image_after_a_diff_makes_the_old_diff_stale(api):
    api.create_release()
    before = api.upload(make_png())
    after = api.upload(make_png(squares=[(0, 0, 5, BLACK)]))
    diff = api.upload(b"client-made diff", filename="diff.png")
    api.report("/r", image=after, ref_image=before, diff_image=diff)
    assert Run.objects.get(name="/r").status == "diff_found"
    newer = api.upload(make_png(squares=[(9, 9, 5, BLACK)]))
    api.report("/r", image=newer)
    run = Run.objects.get(name="/r")
    assert run.status == "needs_diff"
    assert run.diff_image_id is None and run.distortion is None


def test_repeated_report_changes_nothing(api):
    api.create_release()
    image = api.upload(make_png())
    api.report("/r", image=image)
    api.report("/r", image=image)
    assert Run.objects.filter(name="/r").count() == 1
    assert AuditLog.objects.filter(action="run_no_diff_needed").count() == 1
    assert AuditLog.objects.filter(action="report_run").count() == 2


def test_report_completes_a_processing_release(api):
    api.create_release()
    api.report("/pair", image=api.upload(make_png()), ref_image=api.upload(make_png(60, 60)))
    api.post("runs_done", {"build_id": api.build_id, "release_name": "r1", "release_number": 1})
    assert Release.objects.get().status == "processing"  # its diff is queued
    api.report("/pair", run_failed="capture timed out")
    assert Release.objects.get().status == "reviewing"


def test_report_is_atomic_when_it_fails(api, monkeypatch):
    api.create_release()
    image = api.upload(make_png())

    def explode(*args, **kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(AuditLog, "record", explode)
    with pytest.raises(RuntimeError, match="audit log unavailable"):
        api.report("/atomic", image=image)
    assert not Run.objects.filter(name="/atomic").exists()
