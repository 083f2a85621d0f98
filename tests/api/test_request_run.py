import json

import pytest

from artifacts import storage
from releases.models import Run
from tests.conftest import make_png


@pytest.fixture
def sent(monkeypatch):
    calls = []

    def record(canvas, run_id):
        calls.extend((task.task, task.args, task.options.get("queue")) for task in canvas.tasks)
        return True

    monkeypatch.setattr("releases.pipeline._send", record)
    return calls


def request(api, run_name="/home", **fields):
    return api.post(
        "request_run",
        {
            "build_id": api.build_id,
            "release_name": "r1",
            "release_number": 1,
            "run_name": run_name,
            "url": "http://127.0.0.1:9/home",
            **fields,
        },
    )


def test_request_run_stores_config_and_queues_capture(
    api, sent, django_capture_on_commit_callbacks
):
    api.create_release()
    with django_capture_on_commit_callbacks(execute=True):
        response = request(api, config=json.dumps({"viewportSize": {"width": 800, "height": 600}}))
    assert response.status_code == 200, response.content
    body = response.json()
    run = Run.objects.get(name="/home")
    assert body == {
        "success": True,
        "build_id": api.build_id,
        "release_name": "r1",
        "release_number": 1,
        "run_name": "/home",
        "url": "http://127.0.0.1:9/home",
        "config": run.config_id,
        "ref_url": None,
        "ref_config": None,
    }
    stored = json.loads(storage.read_bytes(run.config_id))
    assert stored == {
        "viewportSize": {"width": 800, "height": 600},
        "targetUrl": "http://127.0.0.1:9/home",
    }
    assert run.status == "data_pending"
    assert sent == [("dpxdt.capture.screenshot", (run.id, "run"), "capture")]


def test_request_with_reference_queues_both_captures(api, sent, django_capture_on_commit_callbacks):
    api.create_release()
    with django_capture_on_commit_callbacks(execute=True):
        response = request(api, ref_url="http://127.0.0.1:9/old", ref_config="{}")
    run = Run.objects.get(name="/home")
    assert response.json()["ref_config"] == run.ref_config_id
    assert (
        json.loads(storage.read_bytes(run.ref_config_id))["targetUrl"] == "http://127.0.0.1:9/old"
    )
    assert sorted(args for _, args, _ in sent) == [(run.id, "ref"), (run.id, "run")]


def test_baseline_comes_from_the_last_good_release(api, sent):
    image = api.upload(make_png())
    api.create_release("base")
    api.report("/home", release="base", image=image, url="http://127.0.0.1:9/home")
    api.post(
        "mark_release",
        {"build_id": api.build_id, "release_name": "base", "release_number": 1, "status": "good"},
    )
    api.create_release()
    request(api)
    run = Run.objects.get(name="/home", release__name="r1")
    assert run.ref_image_id == image
    assert run.ref_url == "http://127.0.0.1:9/home"


def test_without_baseline_nothing_to_compare(api, sent):
    api.create_release()
    request(api)
    run = Run.objects.get(name="/home")
    assert run.ref_image_id is None and run.ref_url == ""


def test_requesting_again_captures_again(api, sent, django_capture_on_commit_callbacks):
    api.create_release()
    request(api)
    run = Run.objects.get(name="/home")
    Run.objects.filter(pk=run.pk).update(
        status="failed", failure_reason="capture failed: x", pipeline_attempts=3
    )
    with django_capture_on_commit_callbacks(execute=True):
        request(api)
    run.refresh_from_db()
    assert run.status == "data_pending"
    assert run.failure_reason == "" and run.pipeline_attempts == 0
    assert sent == [("dpxdt.capture.screenshot", (run.id, "run"), "capture")]


def test_invalid_config_json_is_400_and_nothing_is_queued(
    api, sent, django_capture_on_commit_callbacks
):
    api.create_release()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = request(api, config="{not json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("config: config is not valid JSON")
    assert callbacks == [] and sent == []
    assert not Run.objects.exists()


def test_a_run_name_with_a_control_character_is_a_400_and_nothing_is_queued(api, sent):
    api.create_release()
    response = request(api, run_name="/a\u2028b")
    assert response.status_code == 400
    assert (
        "run_name: must not contain control characters (found U+2028)" in (response.json()["error"])
    )
    assert sent == [] and not Run.objects.exists()


def test_unknown_key_in_ref_config_is_named(api, sent):
    api.create_release()
    response = request(api, ref_url="http://127.0.0.1:9/old", ref_config='{"zoom": 2}')
    assert response.status_code == 400
    assert response.json()["error"].startswith("ref_config: unknown config key: zoom")
    assert not Run.objects.exists()


def test_ref_config_without_ref_url(api, sent):
    api.create_release()
    response = request(api, ref_config="{}")
    assert response.status_code == 400
    assert response.json()["error"] == "ref_url: required when ref_config is given"


def test_url_is_required(api):
    api.create_release()
    response = api.post(
        "request_run",
        {"build_id": api.build_id, "release_name": "r1", "release_number": 1, "run_name": "/x"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "url: This field is required."


def test_key_of_another_build_is_refused(api, make_build, sent):
    api.create_release()
    api.keyed = make_build("Other")
    assert request(api).status_code == 404


@pytest.mark.parametrize(
    "config, key",
    [
        ({"viewportSize": {"width": 10000, "height": 10000}}, "viewportSize"),
        ({"deviceScaleFactor": 8}, "deviceScaleFactor"),
        ({"clipRect": {"left": 0, "top": 0, "width": 8000, "height": 8000}}, "clipRect"),
    ],
)
def test_a_screenshot_over_the_pixel_limit_is_refused_naming_the_key(api, sent, config, key):
    api.create_release()
    response = request(api, config=json.dumps(config))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith(f"config: {key}:") and "DPXDT_CAPTURE_MAX_PIXELS" in error, error
    assert sent == [] and not Run.objects.exists()


def test_a_tall_max_height_is_accepted_the_capture_cuts_it(api, sent):
    api.create_release()
    response = request(api, config=json.dumps({"maxHeight": 200000}))
    assert response.status_code == 200, response.content


def test_a_regex_re2_cannot_run_is_refused_naming_the_key(api, sent):
    api.create_release()
    response = request(api, config=json.dumps({"injectHeaders": {r"(\w)\1": {"X": "y"}}}))
    assert response.status_code == 400
    assert "injectHeaders" in response.json()["error"] and "RE2" in response.json()["error"]


def test_the_original_url_pair_diff_config_is_accepted(api, sent):
    """What the original url_pair_diff sends: Selenium keys and PhantomJS-style cookies."""
    api.create_release()
    config = {
        "command_executor": "http://127.0.0.1:4444/wd/hub",
        "desired_capabilities": {"browserName": "chrome"},
        "cookies": [
            {"name": "sid", "value": "1", "expiry": 4102444800},
            {"name": "x", "value": "2", "expires": "Fri, 01 Jan 2100 00:00:00 GMT"},
        ],
    }
    response = request(
        api,
        config=json.dumps(config),
        ref_url="http://127.0.0.1:9/old",
        ref_config=json.dumps(config),
    )
    assert response.status_code == 200, response.content
    stored = json.loads(storage.read_bytes(response.json()["config"]))
    assert stored["cookies"][1]["expires"] == 4102444800.0  # the date, converted
    assert stored["command_executor"] == "http://127.0.0.1:4444/wd/hub"


def test_a_bad_cookie_is_a_400_naming_the_field(api, sent):
    api.create_release()
    response = request(
        api, config=json.dumps({"cookies": [{"name": "sid", "value": "1", "expires": "someday"}]})
    )
    assert response.status_code == 400
    assert "cookies[0].expires must be seconds since 1970 or a date" in response.json()["error"]
    assert not sent


def test_config_secrets_are_kept_apart_and_encrypted(api, sent):
    api.create_release()
    secret_config = {
        "httpUserName": "ci",
        "httpPassword": "hunter2",
        "cookies": [{"name": "sid", "value": "s3ssion"}],
        "injectHeaders": {".*": {"Authorization": "Bearer t0ken"}},
    }
    response = request(
        api,
        config=json.dumps(secret_config),
        ref_url="http://127.0.0.1:9/old",
        ref_config=json.dumps(secret_config),
    )
    assert response.status_code == 200
    run = Run.objects.get()
    for sha1 in (run.config_id, run.ref_config_id):
        stored = storage.read_bytes(sha1).decode()
        assert "hunter2" not in stored and "s3ssion" not in stored and "t0ken" not in stored
        assert "••••" in stored
    for token in (run.config_secrets, run.ref_config_secrets):
        assert token and "hunter2" not in token  # encrypted, not merely kept
    from capture.services import unseal

    assert unseal(run.config_secrets)["httpPassword"] == "hunter2"


@pytest.mark.parametrize(
    "config, named",
    [
        ({"injectHeaders": {".*": {"X Bad": "1"}}}, "injectHeaders['.*']: 'X Bad' is not a header"),
        ({"injectHeaders": {".*": {"X-A": "1\r\nEvil: 2"}}}, "injectHeaders['.*']['X-A']"),
        ({"injectHeaders": {".*": {"X-A": "a\x00b"}}}, "injectHeaders['.*']['X-A']"),
        ({"cookies": [{"name": "s", "value": "a;b"}]}, "cookies[0].value must be a string"),
        ({"cookies": [{"name": "s", "value": "a\nb"}]}, "cookies[0].value must be a string"),
        ({"cookies": [{"name": "s id", "value": "1"}]}, "cookies[0].name must be"),
        ({"cookies": [{"name": "s", "value": "1", "domain": "a b/c"}]}, "cookies[0].domain"),
        ({"cookies": [{"name": "s", "value": "1", "path": "/a;b"}]}, "cookies[0].path"),
        ({"cookies": [{"name": "s", "value": "1", "expires": 1e300}]}, "cookies[0].expires"),
        ({"cookies": [{"name": "s", "value": "1", "expires": "year 12000"}]}, "cookies[0].exp"),
        ({"userAgent": "Bot\r\nX-Injected: 1"}, "userAgent must not contain control characters"),
        ({"timezoneId": "Mars/Olympus_Mons"}, "timezoneId must be an IANA time zone"),
        ({"locale": "en\x00GB"}, "locale must be a BCP 47 language tag"),
        ({"locale": "english please"}, "locale must be a BCP 47 language tag"),
        ({"waitForSelector": "div["}, "waitForSelector: 'div[' is not a valid CSS selector"),
        ({"hideSelectors": ["#ok", "a >"]}, "hideSelectors: 'a >' is not a valid CSS selector"),
        ({"maskSelectors": ["p::before"]}, "maskSelectors: 'p::before' is not a valid CSS"),
        ({"injectJs": "x" * 1_200_000}, "injectJs is 1.2 MB: a config's text may be at most 1"),
    ],
)
def test_what_the_browser_would_choke_on_is_a_400_naming_the_key(api, sent, config, named):
    api.create_release()
    response = request(api, config=json.dumps(config))
    assert response.status_code == 400, response.content
    assert named in response.json()["error"]
    assert not sent and not Run.objects.exists()


def test_good_values_of_the_checked_keys_pass(api, sent):
    api.create_release()
    config = {
        "injectHeaders": {"example": {"X-Token_1": "a b\tc"}},
        "cookies": [{"name": "sid", "value": "a b=c", "domain": ".example.com", "path": "/x"}],
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
        "timezoneId": "America/Argentina/Buenos_Aires",
        "locale": "zh-Hans-CN",
        "waitForSelector": "main > h1:not(.x)",
        "hideSelectors": ["div:has(> img)"],
    }
    response = request(api, config=json.dumps(config))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "form, named",
    [
        ("urlencoded", "config.injectJs is 10.0 MB: a request may be at most 8.4 MB"),
        ("multipart", "config is over the limit: a request's fields may be at most 8.4 MB"),
    ],
)
def test_a_body_over_the_limit_is_a_json_413_naming_the_field(api, sent, form, named):
    from urllib.parse import urlencode

    api.create_release()
    fields = {
        "build_id": api.build_id,
        "release_name": "r1",
        "release_number": 1,
        "run_name": "/big",
        "url": "http://127.0.0.1:9/home",
        "config": json.dumps({"injectJs": "x" * 10_000_000, "delayMs": 5}),
    }
    if form == "urlencoded":
        response = api.post(
            "request_run", urlencode(fields), content_type="application/x-www-form-urlencoded"
        )
    else:
        response = api.post("request_run", fields, format="multipart")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == named
    assert not sent and not Run.objects.exists()


def test_a_config_the_browser_refuses_fails_the_run_after_one_try(api, sent, monkeypatch):
    """Without a worker: the engine is a stand-in that refuses the config (the real refusals
    are in tests/capture/test_robustness.py)."""
    from capture import services as capture_services
    from capture.browser import CaptureError

    tries = []

    class Refusing:
        policy = None

        def set_policy(self, policy):
            self.policy = policy

        def capture(self, config, partition="", layout_only=False):
            tries.append(config)
            raise CaptureError(
                "the browser refused the cookies: Invalid cookie fields", "log", permanent=True
            )

    monkeypatch.setattr(capture_services, "shared_browser", Refusing)
    api.create_release()
    assert request(api).status_code == 200
    run = Run.objects.get()
    assert capture_services.capture_run(run.id, "run") == "failed"
    run.refresh_from_db()
    assert len(tries) == 1 and run.status == "failed"
    assert (
        run.failure_reason
        == "capture failed: the browser refused the cookies: Invalid cookie fields"
    )


def test_a_run_requested_on_a_branch_takes_that_branchs_baseline(api, sent):
    from releases.models import Release

    image = storage.store_bytes(make_png(), "image/png").artifact
    for name, branch in (("main-1", ""), ("pr-1", "feature")):
        release = Release.objects.create(
            build=api.keyed.build, name=name, number=1, status="good", branch=branch
        )
        Run.objects.create(
            release=release,
            name="/home",
            status="diff_not_found",
            image=image,
            url=f"http://127.0.0.1:9/{name}",
        )
    created = api.post(
        "create_release",
        {"build_id": api.build_id, "release_name": "pr-2", "branch": "feature"},
    )
    assert created.status_code == 200
    fields = {"release_name": "pr-2"}
    response = request(api, **fields, branch="feature")
    assert response.status_code == 200, response.content
    assert Run.objects.get(release__name="pr-2").ref_url == "http://127.0.0.1:9/pr-1"
    wrong = request(api, run_name="/other", **fields, branch="main")
    assert wrong.status_code == 400
    assert "is on branch 'feature', not 'main'" in wrong.json()["error"]
