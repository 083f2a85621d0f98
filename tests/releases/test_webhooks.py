"""Webhook pieces without a worker: URLs, signatures, payloads, refusals, the settings form."""

import hashlib
import hmac
import json

import pytest

from releases import access, services, webhooks
from releases.models import Release, Run, WebhookDelivery


def test_urls_are_checked_line_by_line():
    assert webhooks.parse_urls(" https://hooks.example.com/a \n\nhttp://10.0.0.5:8080/x\n") == [
        "https://hooks.example.com/a",
        "http://10.0.0.5:8080/x",
    ]
    with pytest.raises(ValueError, match="'ftp://example.com/x' is not an http:// or https://"):
        webhooks.parse_urls("https://ok.example.com\nftp://example.com/x")
    with pytest.raises(ValueError, match="at most 10 webhook URLs, not 11"):
        webhooks.parse_urls("\n".join(f"https://e.example.com/{n}" for n in range(11)))


def test_the_signature_is_the_hmac_sha256_of_the_body():
    body = b'{"event": "release.good"}'
    assert (
        webhooks.sign("s3cret", body)
        == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    )


@pytest.fixture
def hooked(keyed):
    services.update_settings(
        access.Caller(), keyed.build, webhook_urls="http://127.0.0.1:9/a\nhttp://127.0.0.1:9/b"
    )
    return keyed.build


def test_a_release_reaching_review_records_one_delivery_per_url(
    hooked, django_capture_on_commit_callbacks
):
    release = Release.objects.create(build=hooked, name="r1", number=1, status="processing")
    Run.objects.create(release=release, name="/flaky", status="flaky")
    Run.objects.create(
        release=release, name="/x", status="diff_found", changed_pixels=5, distortion=0.5
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.maybe_finish_release(release.id)
    deliveries = WebhookDelivery.objects.order_by("url")
    assert [d.url for d in deliveries] == ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]
    assert len(callbacks) >= 1  # queued only once the transaction commits
    event = json.loads(deliveries[0].payload)
    assert event["event"] == "release.reviewing"
    assert event["counts"]["flaky"] == 1 and event["counts"]["diff_found"] == 1
    assert event["changed_runs"][0]["name"] == "/x"
    assert "1 of 2 runs changed, 0 failed, 1 flaky" in event["text"]


def test_no_urls_no_deliveries(keyed):
    release = Release.objects.create(build=keyed.build, name="r1", number=1, status="processing")
    services.maybe_finish_release(release.id)
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data", "http://[::ffff:169.254.169.254]/"]
)
def test_a_link_local_receiver_is_never_posted_to(hooked, url):
    from capture.tasks import send_webhook

    hooked.webhook_urls = url
    hooked.save()
    release = Release.objects.create(build=hooked, name="r1", number=1, status="reviewing")
    [delivery_id] = webhooks.release_event(release)
    assert webhooks.deliver(delivery_id, send_webhook) == "denied"
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.attempts == 1 and delivery.status == "failed"
    assert delivery.error.startswith("denied by policy: ") and "link-local" in delivery.error


def test_a_delivered_event_is_not_sent_twice(hooked):
    release = Release.objects.create(build=hooked, name="r1", number=1, status="good")
    ids = webhooks.release_event(release)
    WebhookDelivery.objects.filter(pk__in=ids).update(status="delivered")
    assert webhooks.deliver(ids[0], send=None) == "skipped"


def test_the_settings_form_refuses_a_bad_url_and_keeps_a_secret(hooked):
    from releases.forms import SettingsForm

    form = SettingsForm(
        {
            "name": "x",
            "max_distortion": 0,
            "recaptures": 1,
            "diff_metric": "oklab",
            "webhook_urls": "javascript:alert(1)",
        },
        instance=hooked,
    )
    assert not form.is_valid()
    assert "is not an http:// or https:// URL" in str(form.errors["webhook_urls"])
    secret = hooked.webhook_secret
    assert len(secret) == 64
    services.update_settings(access.Caller(), hooked, webhook_urls="https://other.example.com")
    assert hooked.webhook_secret == secret  # changing URLs keeps the secret receivers know


def test_the_payload_says_what_changed_and_the_groups_of_changes(hooked):
    release = Release.objects.create(build=hooked, name="r1", number=1, status="reviewing")
    label = "`p`: text “<!channel>” → “<http://evil.example|click>”"
    for name in ("/a", "/b"):
        Run.objects.create(
            release=release,
            name=name,
            status="diff_found",
            summary=label,
            cause_key="c" * 40,
            causes=[{"label": label}],
        )
    event = webhooks.payload(release, "release.reviewing")
    assert [run["summary"] for run in event["changed_runs"]] == [label, label]
    assert event["groups"] == [{"key": "c" * 40, "label": label, "runs": 2, "changed": 2}]
    # In Slack's text, what a page wrote is shown as written, never as a mention or a link.
    assert "&lt;!channel&gt;" in event["text"] and "<!channel>" not in event["text"]
    assert "&lt;http://evil.example|click&gt; — 2 pages" in event["text"].replace("”", "")


def test_names_reach_the_chat_text_escaped(keyed):
    services.update_settings(
        access.Caller(), keyed.build, name="<!channel>", webhook_urls="http://127.0.0.1:9/a"
    )
    release = Release.objects.create(
        build=keyed.build,
        name="<http://evil.example|click here> <!channel> & co",
        number=1,
        status="reviewing",
    )
    [delivery_id] = webhooks.release_event(release)
    event = json.loads(WebhookDelivery.objects.get(pk=delivery_id).payload)
    text = event["text"]
    assert text.startswith(
        "&lt;!channel&gt;: release &lt;http://evil.example|click here&gt; &lt;!channel&gt; "
        "&amp; co #1 is ready for review"
    )
    # The only link is Depicted's own; the names stay as they were in the structured fields.
    assert text.count("<") == 1 and "<!channel>" not in text
    assert event["release"]["name"].startswith("<http://evil.example|click here>")
    assert event["build"]["name"] == "<!channel>"


def test_a_commit_status_retried_after_a_newer_one_was_delivered_is_not_sent(keyed):
    from releases import statuses

    services.update_settings(
        access.Caller(),
        keyed.build,
        status_provider="github",
        status_repository="acme/shop",
        status_token=statuses.seal_token("t"),
    )
    release = Release.objects.create(
        build=keyed.build, name="r1", number=1, status="processing", commit_sha="c" * 40
    )
    [older] = webhooks.release_event(release)
    Release.objects.filter(pk=release.pk).update(status="good")
    release.refresh_from_db()
    [newer] = webhooks.release_event(release)
    sent = []
    assert webhooks.deliver(newer, lambda url, body, headers: sent.append(url) or 201)
    assert webhooks.deliver(older, lambda url, body, headers: sent.append(url) or 201) == (
        "skipped"
    )
    assert sent == ["https://api.github.com/repos/acme/shop/statuses/" + "c" * 40]
    assert WebhookDelivery.objects.get(pk=older).error.startswith("superseded")
    assert json.loads(WebhookDelivery.objects.get(pk=newer).payload)["state"] == "success"
