"""The diff step with real storage and database; the task wrapper is exercised end to end in
tests/e2e with a real worker."""

import json

import pytest

from artifacts import storage, thumbnails
from pdiff import services
from releases.models import Release, Run
from tests.conftest import BLACK, make_png


@pytest.fixture
def pair(keyed):
    def factory(before: bytes, after: bytes, **build_settings):
        for name, value in build_settings.items():
            setattr(keyed.build, name, value)
        keyed.build.save()
        release = Release.objects.create(build=keyed.build, name="r", number=1, status="processing")
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
    run = with_config(
        pair(make_png(), make_png(squares=[(0, 0, 10, BLACK)])), {"maxDistortion": 0.01}
    )
    assert services.diff_run(run.id) == "same"
    log = json.loads(storage.read_bytes(Run.objects.get(pk=run.pk).diff_log_id))
    assert log["max_distortion"] == 0.01


def test_a_config_that_is_not_ours_changes_nothing(pair):
    run = with_config(
        pair(make_png(), make_png(squares=[(0, 0, 10, BLACK)])),
        {"diffThreshold": "lenient", "maxDistortion": 5},
    )
    assert services.diff_run(run.id) == "found"


# Tailwind blue-600 -> blue-700 on a 60x40 button: every pixel under the threshold.
BUTTON_BEFORE = make_png(squares=[(40, 40, 60, (0x25, 0x63, 0xEB, 255))])
BUTTON_AFTER = make_png(squares=[(40, 40, 60, (0x1D, 0x4E, 0xD8, 255))])
GREEN = make_png(squares=[(0, 0, 10, (0x16, 0xA3, 0x4A, 255))])
DARKER_GREEN = make_png(squares=[(0, 0, 10, (0x15, 0x80, 0x3D, 255))])


def test_new_builds_diff_with_the_perceptual_metric(pair):
    run = pair(GREEN, DARKER_GREEN)
    assert run.release.build.diff_metric == "oklab"
    assert services.diff_run(run.id) == "found"
    assert (
        json.loads(storage.read_bytes(Run.objects.get(pk=run.pk).diff_log_id))["metric"] == "oklab"
    )


def test_a_build_on_yiq_keeps_pixelmatch_7_verdicts(pair):
    run = pair(GREEN, DARKER_GREEN, diff_metric="yiq")
    assert services.diff_run(run.id) == "same"  # YIQ does not see this design change


def test_run_config_metric_overrides_the_build(pair):
    run = with_config(pair(GREEN, DARKER_GREEN), {"diffMetric": "yiq"})
    assert services.diff_run(run.id) == "same"


def test_a_subtle_region_makes_the_run_diff_found_whatever_the_tolerance(pair):
    run = pair(BUTTON_BEFORE, BUTTON_AFTER, max_distortion=0.5)
    assert services.diff_run(run.id) == "found"
    run.refresh_from_db()
    assert run.status == "diff_found" and run.changed_pixels == 0
    log = json.loads(storage.read_bytes(run.diff_log_id))
    [region] = log["subtle_regions"]
    assert (region["x"], region["y"], region["width"], region["height"]) == (40, 40, 60, 60)
    assert log["summary"] == (
        "1 subtle colour change (under the threshold) at x=40, y=40 (after, 60×60 px)"
    )
    assert storage.read_bytes(run.diff_image_id).startswith(b"\x89PNG")  # something to look at


def test_subtle_area_setting(pair, settings):
    settings.SUBTLE_MIN_AREA = 60 * 60 + 1
    assert services.diff_run(pair(BUTTON_BEFORE, BUTTON_AFTER).id) == "same"


def test_a_jpeg_screenshot_fails_the_run_at_once_with_its_name(pair):
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (20, 20), "white").save(out, format="JPEG")
    run = pair(make_png(), out.getvalue())
    assert services.diff_run(run.id) == "failed"
    run.refresh_from_db()
    assert run.failure_reason == "diff failed: after image is not a PNG image: JPEG"


def test_moved_content_stores_an_aligned_diff(pair):
    import numpy as np

    from tests.pdiff.test_verdict import png, striped_page

    lines = [(70, 70 + (n * 37) % 150) for n in range(30)]
    before = png(striped_page(lines))
    after = png(striped_page(lines[:4] + [(70, 230)] + lines[4:]))
    run = pair(before, after)
    assert services.diff_run(run.id) == "found"
    run.refresh_from_db()
    log = json.loads(storage.read_bytes(run.diff_log_id))
    assert [shift["dy"] for shift in log["shifts"]] == [12]
    assert log["summary"].startswith("1 block changed at y=")
    assert "content below y=" in log["summary"] and "moved down 12 px" in log["summary"]
    assert 0 < log["aligned_changed_pixels"] < log["changed_pixels"]
    aligned = storage.read_bytes(run.aligned_diff_image_id)
    assert aligned.startswith(b"\x89PNG") and aligned != storage.read_bytes(run.diff_image_id)
    assert np.isclose(log["distortion"], run.distortion)  # unaligned, as tolerances expect


# --- recaptures: flaky or real ------------------------------------------------------------------


def noisy(box_colour, word=False):
    """A page with a 'random' box at (100, 100) and, optionally, a real change at (10, 10)."""
    squares = [(100, 100, 40, box_colour)]
    if word:
        squares.append((10, 10, 12, BLACK))
    return make_png(squares=squares)


@pytest.fixture
def captured(pair):
    """A run captured here (config and URL) against its baseline, ready for its diff."""

    def factory(before, after, **build_settings):
        run = with_config(
            pair(before, after, **build_settings), {"viewportSize": {"width": 200, "height": 200}}
        )
        Run.objects.filter(pk=run.pk).update(url="http://127.0.0.1:9/page")
        return Run.objects.get(pk=run.pk)

    return factory


def recapture(run, png=None, failure=""):
    from releases import services as release_services

    claim = release_services.claim_for_capture(run.id, "recapture")
    assert claim is not None
    image = storage.store_bytes(png, "image/png").artifact if png else None
    if image:
        run.release.build.artifacts.add(image)
    release_services.record_capture(claim, "recapture", image=image, failure=failure)
    return Run.objects.get(pk=run.pk)


def test_a_captured_run_that_differs_is_captured_again_first(
    captured, django_capture_on_commit_callbacks
):
    run = captured(noisy((200, 0, 0, 255)), noisy((0, 0, 200, 255)))
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.diff_run(run.id) == "recapturing"
    run.refresh_from_db()
    assert (run.status, run.recapture, run.pipeline_attempts) == ("data_pending", "wanted", 0)
    assert len(callbacks) == 1  # the capture of the same page, queued after commit
    assert Release.objects.get().status == "processing"  # the release waits for it


def test_only_noise_makes_the_run_flaky(captured):
    run = captured(noisy((200, 0, 0, 255)), noisy((0, 0, 200, 255)))
    services.diff_run(run.id)
    run = recapture(run, noisy((0, 160, 0, 255)))
    assert (run.status, run.recapture) == ("needs_diff", "done")
    assert services.diff_run(run.id) == "flaky"
    run.refresh_from_db()
    assert run.status == "flaky" and run.changed_pixels == 0
    assert run.noise_pixels == 40 * 40
    assert storage.read_bytes(run.noise_image_id).startswith(b"\x89PNG")
    log = json.loads(storage.read_bytes(run.diff_log_id))
    assert log["noise"]["masked"] == [[96, 96, 48, 48]]
    assert log["recapture"] == run.recapture_image_id
    assert Release.objects.get().status == "reviewing"


def test_a_real_change_beside_the_noise_is_found_with_the_noise_masked(captured):
    run = captured(noisy((200, 0, 0, 255)), noisy((0, 0, 200, 255), word=True))
    services.diff_run(run.id)
    run = recapture(run, noisy((0, 160, 0, 255), word=True))
    assert services.diff_run(run.id) == "found"
    run.refresh_from_db()
    assert run.status == "diff_found"
    assert run.changed_pixels == 12 * 12  # the real change; the box is masked
    assert run.noise_pixels == 40 * 40


def test_a_page_that_agrees_with_itself_is_a_plain_diff(captured):
    changed = noisy((0, 0, 200, 255))
    run = captured(noisy((200, 0, 0, 255)), changed)
    services.diff_run(run.id)
    run = recapture(run, changed)
    assert services.diff_run(run.id) == "found"
    run.refresh_from_db()
    assert run.changed_pixels == 40 * 40 and run.noise_pixels is None and not run.noise_image_id


def test_a_recapture_that_fails_costs_the_run_nothing(captured):
    run = captured(noisy((200, 0, 0, 255)), noisy((0, 0, 200, 255)))
    services.diff_run(run.id)
    run = recapture(run, failure="page answered HTTP 500")
    assert (run.status, run.recapture) == ("needs_diff", "failed")
    assert services.diff_run(run.id) == "found"  # diffed without a noise check, not again
    assert Run.objects.get(pk=run.pk).status == "diff_found"


def test_no_recapture_when_the_build_says_none(captured):
    run = captured(noisy((200, 0, 0, 255)), noisy((0, 0, 200, 255)), recaptures=0)
    assert services.diff_run(run.id) == "found"


def test_no_recapture_of_uploaded_images(pair):
    uploaded = pair(noisy((200, 0, 0, 255)), noisy((0, 0, 200, 255)))  # no config, no URL
    assert services.diff_run(uploaded.id) == "found"


def test_new_inputs_forget_the_old_recapture(captured):
    from django.db import transaction

    from releases.services import SYSTEM, Report
    from releases.services.reports import update_run

    run = captured(noisy((200, 0, 0, 255)), noisy((0, 0, 200, 255)))
    services.diff_run(run.id)
    run = recapture(run, noisy((0, 160, 0, 255)))
    services.diff_run(run.id)
    newer = storage.store_bytes(noisy((9, 9, 9, 255)), "image/png").artifact
    run.release.build.artifacts.add(newer)
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        update_run(locked, Report(values={"image": newer.sha1}), {"image": newer}, SYSTEM)
    run.refresh_from_db()
    assert (
        run.status,
        run.recapture,
        run.recapture_image_id,
        run.noise_image_id,
        run.noise_pixels,
    ) == ("needs_diff", "", None, None, None)


def test_the_diff_leaves_a_thumbnail_for_the_release_page(pair):
    """Of the diff image (made from the pixels the diff holds: the picture its PNG gives)."""
    run = pair(make_png(squares=[(20, 20, 20, BLACK)]), make_png(squares=[(120, 120, 20, BLACK)]))
    services.diff_run(run.id)
    run.refresh_from_db()
    small = storage.read_bytes(run.thumbnail_id)
    assert small[8:12] == b"WEBP" and len(small) < 50_000
    assert small == thumbnails.thumbnail(storage.read_bytes(run.diff_image_id))
    assert run.release.build.artifacts.filter(sha1=run.thumbnail_id).exists()


def test_an_unchanged_run_gets_the_thumbnail_of_its_screenshot(pair):
    after = make_png(squares=[(120, 120, 20, BLACK)])
    same = pair(after, after)
    services.diff_run(same.id)
    same.refresh_from_db()
    assert same.status == "diff_not_found"
    assert storage.read_bytes(same.thumbnail_id) == thumbnails.thumbnail(after)


# --- layout maps: causes, and the cheaper check for noise -------------------------------------


def box_map(box_colour, word=False):
    """The layout map of noisy()'s page: the box at (100, 100) and a word at (10, 10)."""
    from tests.pdiff.test_causes import Page

    page = Page(200, 200)
    html = page.add(-1, "html", (0, 0, 200, 200))
    body = page.add(html, "body", (0, 0, 200, 200))
    page.add(body, "span", (10, 10, 12, 12), cls="word", text="new" if word else "old")
    r, g, b, _ = box_colour
    page.add(body, "div", (100, 100, 40, 40), id="box", background_color=f"rgb({r}, {g}, {b})")
    return page.map()


def with_layouts(run, before, after):
    from capture import layout as capture_layout
    from pdiff.layout import LayoutMap

    artifacts = {}
    for field, layout in (("ref_layout", before), ("layout", after)):
        data = capture_layout.compress(json.dumps(layout_json(layout)))
        artifacts[field] = storage.store_bytes(data, "application/gzip").artifact
        run.release.build.artifacts.add(artifacts[field])
    Run.objects.filter(pk=run.pk).update(**artifacts)
    assert isinstance(before, LayoutMap)
    return Run.objects.get(pk=run.pk)


def layout_json(layout):
    """A LayoutMap back to its stored JSON."""
    segments, elements = [], []
    for e in layout.elements:
        segment = [e.tag, e.id, " ".join(e.classes)]
        if segment not in segments:
            segments.append(segment)
        elements.append(
            [
                e.parent,
                segments.index(segment),
                e.nth,
                e.x,
                e.y,
                e.w,
                e.h,
                e.style,
                e.flags,
                e.text,
                e.src,
            ]
        )
    return {
        "format": 1,
        "width": layout.width,
        "height": layout.height,
        "scale": 1,
        "props": list(layout.props),
        "styles": [list(s) for s in layout.styles],
        "segments": segments,
        "elements": elements,
        "dropped": 0,
    }


def recheck(run, layout):
    from capture import layout as capture_layout
    from releases import services as release_services

    claim = release_services.claim_for_capture(run.id, "recapture")
    assert claim is not None
    data = capture_layout.compress(json.dumps(layout_json(layout)))
    artifact = storage.store_bytes(data, "application/gzip").artifact
    run.release.build.artifacts.add(artifact)
    release_services.record_capture(claim, "recapture", layout=artifact)
    return Run.objects.get(pk=run.pk)


def test_a_difference_the_elements_name_is_checked_by_loading_the_page_again(captured):
    run = captured(noisy((200, 0, 0, 255)), noisy((0, 0, 200, 255)))
    run = with_layouts(run, box_map((200, 0, 0, 255)), box_map((0, 0, 200, 255)))
    assert services.diff_run(run.id) == "rechecking"
    run.refresh_from_db()
    assert (run.status, run.recapture) == ("data_pending", "layout")
    from releases.services import pending_captures

    assert pending_captures(run) == ["recapture"]


def test_a_cause_that_differs_between_two_loads_is_noise_and_the_run_flaky(captured):
    run = captured(noisy((200, 0, 0, 255)), noisy((0, 0, 200, 255)))
    run = with_layouts(run, box_map((200, 0, 0, 255)), box_map((0, 0, 200, 255)))
    services.diff_run(run.id)
    run = recheck(run, box_map((0, 160, 0, 255)))
    assert (run.status, run.recapture) == ("needs_diff", "layout_done")
    assert run.recapture_image_id is None and run.recapture_layout_id
    assert services.diff_run(run.id) == "flaky"
    run.refresh_from_db()
    assert run.summary.startswith("the page differs from itself (`#box`: background-color")
    assert run.noise_image_id is None and run.cause_key == ""


def test_a_cause_that_is_the_same_again_is_real_beside_the_noise(captured):
    run = captured(noisy((200, 0, 0, 255)), noisy((0, 0, 200, 255), word=True))
    run = with_layouts(run, box_map((200, 0, 0, 255)), box_map((0, 0, 200, 255), word=True))
    services.diff_run(run.id)
    run = recheck(run, box_map((0, 160, 0, 255), word=True))
    assert services.diff_run(run.id) == "found"
    run.refresh_from_db()
    assert [cause["kind"] for cause in run.causes] == ["text"]
    assert run.summary == "`span`: text “old” → “new”" and len(run.cause_key) == 40
    assert run.cause_crop_id and run.thumbnail_id


def test_pixels_no_element_explains_need_no_screenshot_when_the_elements_decide(captured):
    """The box's colour is a real change (the same again on a second load), so the run is a
    change whatever the square no element explains is: a second screenshot, which could only
    tell whether that square is noise, is not taken."""
    changed = make_png(squares=[(100, 100, 40, (0, 0, 200, 255)), (150, 10, 30, BLACK)])
    run = captured(noisy((200, 0, 0, 255)), changed)
    run = with_layouts(run, box_map((200, 0, 0, 255)), box_map((0, 0, 200, 255)))
    services.diff_run(run.id)
    run = recheck(run, box_map((0, 0, 200, 255)))  # the box is the same again: real
    assert services.diff_run(run.id) == "found"
    run.refresh_from_db()
    assert (run.recapture, run.recapture_image_id) == ("layout_done", None)
    kinds = sorted(cause["kind"] for cause in run.causes)
    assert kinds == ["pixels", "style"] and run.cause_key == ""  # reviewed on its own


def test_pixels_no_element_explains_are_screenshot_again_when_the_verdict_hangs_on_them(
    captured,
):
    """The box's colour differs between two loads (noise), so only the square no element
    explains can make this a change: a second screenshot tells whether it is noise too."""
    changed = make_png(squares=[(100, 100, 40, (0, 0, 200, 255)), (150, 10, 30, BLACK)])
    run = captured(noisy((200, 0, 0, 255)), changed)
    run = with_layouts(run, box_map((200, 0, 0, 255)), box_map((0, 0, 200, 255)))
    services.diff_run(run.id)
    run = recheck(run, box_map((0, 160, 0, 255)))  # the box differs again: noise
    assert services.diff_run(run.id) == "recapturing"
    run.refresh_from_db()
    assert (run.status, run.recapture) == ("data_pending", "wanted")
    run = recapture(run, changed)
    assert run.recapture == "done"
    assert services.diff_run(run.id) == "found"  # the square is there again: real
    run.refresh_from_db()
    assert [cause["kind"] for cause in run.causes] == ["pixels"]


# --- the recheck made by the capture itself -------------------------------------------------


class StandIn:
    """A browser stand-in for capture_run: the screenshot given, and the layout maps given in
    the order the loads ask for them (a CaptureError in their place: that load fails)."""

    policy = None

    def __init__(self, png, *maps):
        self.png, self.maps, self.loads = png, list(maps), []

    def set_policy(self, policy):
        self.policy = policy

    def capture(self, config, partition="", layout_only=False):
        from capture.engine import CaptureResult

        self.loads.append("layout map" if layout_only else "screenshot")
        layout = self.maps.pop(0)
        if isinstance(layout, Exception):
            raise layout
        return CaptureResult(b"" if layout_only else self.png, "log", 200, 0.1, stored(layout))


def stored(layout):
    from capture import layout as capture_layout

    return capture_layout.compress(json.dumps(layout_json(layout)))


@pytest.fixture
def to_capture(captured, monkeypatch):
    """A run captured here whose own capture is still to come, against a baseline with its
    screenshot and layout map; capture_run then uses ``StandIn(png, *maps)``."""
    from capture import services as capture_services

    def factory(before_png, after_png, before_map, *maps, **build_settings):
        run = with_layouts(
            captured(before_png, after_png, **build_settings), before_map, before_map
        )
        Run.objects.filter(pk=run.pk).update(image=None, layout=None, status="data_pending")
        browser = StandIn(after_png, *maps)
        monkeypatch.setattr(capture_services, "shared_browser", lambda: browser)
        return Run.objects.get(pk=run.pk), browser

    return factory


def test_a_capture_whose_elements_differ_loads_the_page_again_at_once(to_capture):
    """The diff's noise check, made by the capture: no first look by the diff worker, no
    capture of its own; the diff judges at once, with the second load's map."""
    from capture import services as capture_services
    from releases.models import AuditLog

    red, blue = (200, 0, 0, 255), (0, 0, 200, 255)
    run, browser = to_capture(noisy(red), noisy(blue), box_map(red), box_map(blue), box_map(blue))
    assert capture_services.capture_run(run.id, "run") == "captured"
    assert browser.loads == ["screenshot", "layout map"]
    run.refresh_from_db()
    assert (run.status, run.recapture) == ("needs_diff", "layout_done")
    assert run.recapture_layout_id == run.layout_id  # laid out the same: the same bytes
    assert run.recapture_log_id and run.recapture_image_id is None
    assert AuditLog.objects.filter(
        run=run, message="its elements differ from the baseline: loaded again for its layout map"
    ).exists()
    assert services.diff_run(run.id) == "found"
    run.refresh_from_db()
    assert run.summary == "`#box`: background-color #c80000 → #0000c8"


def test_a_cause_that_differs_on_the_capture_s_second_load_is_noise(to_capture):
    from capture import services as capture_services

    red, blue, green = (200, 0, 0, 255), (0, 0, 200, 255), (0, 160, 0, 255)
    run, _ = to_capture(noisy(red), noisy(blue), box_map(red), box_map(blue), box_map(green))
    capture_services.capture_run(run.id, "run")
    assert services.diff_run(run.id) == "flaky"
    run.refresh_from_db()
    assert run.summary.startswith("the page differs from itself (`#box`: background-color")


def test_a_capture_whose_elements_are_the_baseline_s_loads_it_once(to_capture):
    """Pixels alone differ: the page's elements have nothing to check again, and the diff's
    first look asks for a second screenshot, as before."""
    from capture import services as capture_services

    red, blue = (200, 0, 0, 255), (0, 0, 200, 255)
    run, browser = to_capture(noisy(red), noisy(blue), box_map(red), box_map(red))
    assert capture_services.capture_run(run.id, "run") == "captured"
    assert browser.loads == ["screenshot"]
    run.refresh_from_db()
    assert (run.status, run.recapture, run.recapture_layout_id) == ("needs_diff", "", None)
    assert services.diff_run(run.id) == "recapturing"


def test_no_second_load_when_the_build_takes_no_second_looks(to_capture):
    from capture import services as capture_services

    red, blue = (200, 0, 0, 255), (0, 0, 200, 255)
    run, browser = to_capture(noisy(red), noisy(blue), box_map(red), box_map(blue), recaptures=0)
    capture_services.capture_run(run.id, "run")
    assert browser.loads == ["screenshot"]
    run.refresh_from_db()
    assert (run.status, run.recapture) == ("needs_diff", "")
    assert services.diff_run(run.id) == "found"


def test_a_second_load_that_fails_leaves_the_run_diffed_without_a_noise_check(to_capture, settings):
    from capture import services as capture_services
    from capture.browser import CaptureError
    from releases.models import AuditLog

    settings.CAPTURE_ATTEMPTS = 2
    settings.CAPTURE_RETRY_DELAY_SECONDS = 0
    red, blue = (200, 0, 0, 255), (0, 0, 200, 255)
    lost = CaptureError("capture timed out after 30 s while loading the page", "log")
    run, browser = to_capture(noisy(red), noisy(blue), box_map(red), box_map(blue), lost, lost)
    assert capture_services.capture_run(run.id, "run") == "captured"
    assert browser.loads == ["screenshot", "layout map", "layout map"]
    run.refresh_from_db()
    assert (run.status, run.recapture, run.recapture_layout_id) == ("needs_diff", "failed", None)
    assert storage.read_bytes(run.recapture_log_id) == b"log"  # the last try's capture log
    assert AuditLog.objects.filter(
        run=run,
        message="its elements differ from the baseline; loading it again failed: capture "
        "timed out after 30 s while loading the page (after 2 attempts)",
    ).exists()
    assert services.diff_run(run.id) == "found"
