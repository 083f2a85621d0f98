"""Webhooks end to end: a real worker on Redis POSTs release events to a real HTTP receiver on
127.0.0.1, which checks the signature and the payload."""

import hashlib
import hmac
import http.server
import json
import threading

import pytest
from django.test import Client

from releases import services
from releases.models import ApiKey, WebhookDelivery
from tests.conftest import BLACK, make_png, wait_for
from tests.e2e.conftest import LiveApi

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class Receiver:
    """An HTTP server that records every POST and answers with the next scripted status."""

    def __init__(self, answers=()):
        self.answers = list(answers)
        self.received = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/depicted"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def factory(answers=()):
        made.append(Receiver(answers))
        return made[-1]

    yield factory
    for server in made:
        server.close()


def hooked_build(urls):
    from releases import access

    build = services.create_build(name="Shop")
    services.update_settings(access.Caller(), build, webhook_urls="\n".join(urls))
    key, secret = ApiKey.create(build=build, purpose="hooks")
    return build, key, secret


def verified(build, headers, body):
    expected = "sha256=" + hmac.new(build.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-depicted-signature"], expected)
    return json.loads(body)


def test_release_events_are_signed_and_delivered(live_server, celery_worker, receiver):
    hook = receiver()
    build, key, secret = hooked_build([hook.url])
    build.refresh_from_db()
    assert len(build.webhook_secret) == 64
    live = LiveApi(live_server.url, build.id, key.id, secret)
    live.post("create_release", release_name="r1")
    before = live.upload(make_png(squares=[(20, 20, 20, BLACK)]))
    after = live.upload(make_png(squares=[(120, 120, 20, BLACK)]))
    same = live.upload(make_png())
    live.post(
        "report_run",
        release_name="r1",
        release_number=1,
        run_name="/cart",
        image=after,
        ref_image=before,
    )
    live.post(
        "report_run",
        release_name="r1",
        release_number=1,
        run_name="/about",
        image=same,
        ref_image=same,
    )
    live.post("runs_done", release_name="r1", release_number=1)
    live.wait_until_reviewing()
    wait_for(lambda: len(hook.received) == 1, timeout=60, message="the reviewing event")

    headers, body = hook.received[0]
    event = verified(build, headers, body)
    assert headers["x-depicted-event"] == "release.reviewing"
    assert headers["content-type"] == "application/json"
    assert event["event"] == "release.reviewing"
    assert event["build"] == {"id": build.id, "name": "Shop"}
    assert (event["release"]["name"], event["release"]["number"]) == ("r1", 1)
    assert event["counts"]["diff_found"] == 1 and event["counts"]["diff_not_found"] == 1
    [changed] = event["changed_runs"]
    assert changed["name"] == "/cart" and changed["changed_pixels"] == 800
    assert changed["url"].endswith("test=%2Fcart") or "/cart" in changed["url"]
    assert event["results_url"].endswith(f"/release?id={build.id}&name=r1&number=1")
    assert event["text"].startswith(
        "Shop: release r1 #1 is ready for review: 1 of 2 runs changed, 0 failed."
    )
    assert f"<{event['results_url']}|Review it>" in event["text"]  # Slack's link syntax

    live.post("mark_release", release_name="r1", release_number=1, status="good")
    wait_for(lambda: len(hook.received) == 2, timeout=60, message="the good event")
    headers, body = hook.received[1]
    assert verified(build, headers, body)["event"] == "release.good"
    assert headers["x-depicted-event"] == "release.good"

    # A body changed in transit fails the check a receiver makes.
    with pytest.raises(AssertionError):
        verified(build, headers, body.replace(b"good", b"bad!"))


def test_a_receiver_that_fails_twice_gets_three_deliveries(live_server, celery_worker, receiver):
    hook = receiver(answers=[500, 500, 200])
    build, key, secret = hooked_build([hook.url])
    live = LiveApi(live_server.url, build.id, key.id, secret)
    live.post("create_release", release_name="r1")
    image = live.upload(make_png())
    live.post("report_run", release_name="r1", release_number=1, run_name="/", image=image)
    live.post("runs_done", release_name="r1", release_number=1)
    wait_for(
        lambda: WebhookDelivery.objects.filter(status="delivered").exists(),
        timeout=60,
        message="the delivery to succeed",
    )
    assert len(hook.received) == 3
    assert len({body for _, body in hook.received}) == 1  # the same signed body each time
    delivery = WebhookDelivery.objects.get()
    assert (delivery.attempts, delivery.response_code, delivery.event) == (
        3,
        200,
        "release.reviewing",
    )

    # The delivery log is on the build's activity page.
    owner = _owner_of(build)
    client = Client()
    client.force_login(owner)
    page = client.get(f"/activity?build_id={build.id}").content.decode()
    assert "release.reviewing" in page and "Delivered" in page and "HTTP 200" in page


def test_a_receiver_that_never_answers_2xx_is_given_up_with_the_reason(
    live_server, celery_worker, receiver, settings
):
    hook = receiver(answers=[503] * 10)
    build, key, secret = hooked_build([hook.url])
    live = LiveApi(live_server.url, build.id, key.id, secret)
    live.post("create_release", release_name="r1")
    live.post(
        "report_run",
        release_name="r1",
        release_number=1,
        run_name="/",
        image=live.upload(make_png()),
    )
    live.post("runs_done", release_name="r1", release_number=1)
    wait_for(
        lambda: WebhookDelivery.objects.filter(status="failed").exists(),
        timeout=90,
        message="the delivery to be given up",
    )
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == settings.WEBHOOK_ATTEMPTS == len(hook.received)
    assert delivery.error.startswith(f"gave up after {settings.WEBHOOK_ATTEMPTS} attempts: ")
    assert "answered HTTP 503" in delivery.error


def _owner_of(build):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("owner", password="pw-123456")
    build.owners.add(user)
    return user
