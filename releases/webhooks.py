"""Webhooks: release events POSTed to the URLs a build's owners set, signed, retried.

When a release reaches reviewing or is marked good or bad, one WebhookDelivery per URL is
written (the exact JSON body) in the same transaction, and a task per delivery is queued after
commit. The worker POSTs the body with ``X-Depicted-Signature: sha256=<hex HMAC-SHA256 of the
body with the build's webhook secret>``; anything but a 2xx is retried with backoff, and every
attempt is recorded on the delivery (the build's activity page lists them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable
from urllib.parse import urlsplit

# The site's Celery app (celery_app, loaded with Django by dpxdt_site): this app does not
# import it, so that imports keep pointing one way.
from celery import current_app as app
from django.db import transaction
from django.utils import timezone

from . import pipeline, sealing, statuses
from .models import Build, Release, Run, WebhookDelivery
from .notifications import absolute

logger = logging.getLogger(__name__)

EVENTS = {
    Release.Status.REVIEWING: "release.reviewing",
    Release.Status.GOOD: "release.good",
    Release.Status.BAD: "release.bad",
}
DELIVER_TASK = "dpxdt.releases.deliver_webhook"
SIGNATURE_HEADER = "X-Depicted-Signature"
MAX_URLS = 10
# Changed runs listed in a payload (the counts are always complete), and groups of changes.
MAX_CHANGED_RUNS = 100
MAX_GROUPS = 10
# The delivery log's word for a URL the webhook network policy refuses (capture.outbound.DENIED).
DENIED = "denied by policy"


class DeliveryError(RuntimeError):
    """This attempt did not get a 2xx answer; worth trying again."""


class SendFailed(RuntimeError):
    """No HTTP answer. ``kind``: a fixed class of failure (capture.outbound.KINDS), the only
    words the delivery log keeps; ``reason``: the policy's own words when it denied the URL."""

    def __init__(self, kind: str, reason: str = ""):
        super().__init__(kind)
        self.kind = kind
        self.reason = reason


def new_secret() -> str:
    return secrets.token_hex(32)


def parse_urls(text: str) -> list[str]:
    """The webhook URLs of a settings form: one per line, http or https, at most MAX_URLS.
    Raises ValueError naming the bad line."""
    urls = [line.strip() for line in text.splitlines() if line.strip()]
    if len(urls) > MAX_URLS:
        raise ValueError(f"at most {MAX_URLS} webhook URLs, not {len(urls)}")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
    return urls


def slack_escape(text: str) -> str:
    """Text someone else chose (a build or release name, a selector, a sentence of the page) as
    Slack shows it literally: &, < and > escaped, so no ``<!channel>`` or ``<url|label>``
    link is made of it (api.slack.com: formatting, escaping text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload(release: Release, event: str) -> dict:
    """The event as the receivers get it; ``text`` is ready for a Slack incoming webhook."""
    from .services.review import cause_groups  # services send webhooks: imported when used

    build = release.build
    counts = release.run_counts()
    changed = list(
        release.runs.filter(status=Run.Status.DIFF_FOUND)
        .order_by("name")
        .values("name", "distortion", "changed_pixels", "summary", "cause_key")[:MAX_CHANGED_RUNS]
    )
    results_url = absolute(release.get_absolute_url())
    for run in changed:
        run["url"] = absolute(release.run_url(run["name"]))
    groups = [
        {"key": group.key, "label": group.label, "runs": len(group.runs), "changed": group.changed}
        for group in cause_groups(release)[:MAX_GROUPS]
    ]
    total = sum(counts.values())
    verb = {
        "release.reviewing": "is ready for review",
        "release.good": "was marked good",
        "release.bad": "was marked bad",
    }[event]
    text = (
        f"{slack_escape(build.name)}: release {slack_escape(release.name)} #{release.number} "
        f"{verb}: "
        f"{counts['diff_found']} of {total} runs changed, {counts['failed']} failed"
        f"{', ' + str(counts['flaky']) + ' flaky' if counts['flaky'] else ''}. "
        f"<{results_url}|Review it>"
    )
    for group in groups[:3]:  # the largest groups of changes by cause
        text += f"\n• {slack_escape(group['label'])} — {group['runs']} pages"
    return {
        "event": event,
        "build": {"id": build.id, "name": build.name},
        "release": {
            "name": release.name,
            "number": release.number,
            "status": release.status,
            "url": release.url,
        },
        "counts": counts,
        "changed_runs": changed,
        "groups": groups,
        "results_url": results_url,
        "text": text,
    }


def release_event(release: Release) -> list[int]:
    """Record the deliveries of a release's new status (inside the transaction that changed
    it): its webhooks, and its commit status (releases.statuses); queue them once it commits.
    Returns the delivery ids."""
    event = EVENTS.get(release.status)
    build = Build.objects.get(pk=release.build_id)
    release.build = build
    urls = parse_urls(build.webhook_urls) if event and build.webhook_urls else []
    ids = []
    if urls:
        body = json.dumps(payload(release, event), sort_keys=True)
        ids = [
            WebhookDelivery.objects.create(
                build=build, release=release, event=event, url=url, payload=body
            ).id
            for url in urls
        ]
    status = statuses.record(release, absolute(release.get_absolute_url()))
    if status is not None:
        ids.append(status.id)
    if ids:
        transaction.on_commit(lambda: [_send(delivery_id) for delivery_id in ids])
    return ids


def _send(delivery_id: int) -> None:
    try:
        app.signature(
            DELIVER_TASK, args=(delivery_id,), immutable=True, queue="default"
        ).apply_async()
    except pipeline.BROKER_ERRORS:  # the broker is down: the delivery stays pending, logged
        logger.exception("could not queue webhook delivery %s", delivery_id)


def deliver(delivery_id: int, send: Callable[[str, bytes, dict], int]) -> str:
    """One attempt at a delivery: "delivered", "skipped" (already done), "denied" (the
    webhook network policy refuses the URL: given up at once), or DeliveryError.

    ``send(url, body, headers)`` makes the request and returns the status code, or raises
    SendFailed: the capture app owns the network policy and passes its sender (capture.tasks),
    so no request leaves without it."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("build")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
            return "skipped"
        if _superseded(delivery):
            # A commit shows the last status posted: an older one retried late must not
            # replace the newer one already there.
            give_up(delivery_id, "superseded by a newer status of the release")
            return "skipped"
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            attempts=delivery.attempts + 1, modified=timezone.now()
        )
    body = delivery.payload.encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Depicted-Webhook/1"}
    if delivery.kind == WebhookDelivery.Kind.STATUS:
        try:
            headers.update(statuses.headers(delivery.build))
        except sealing.Unreadable as exc:
            give_up(delivery_id, str(exc))
            return "failed"
    else:
        headers.update(
            {
                "X-Depicted-Event": delivery.event,
                "X-Depicted-Delivery": str(delivery.id),
                SIGNATURE_HEADER: sign(delivery.build.webhook_secret, body),
            }
        )
    try:
        code = send(delivery.url, body, headers)
    except SendFailed as exc:
        if exc.kind == DENIED:
            give_up(delivery_id, f"{exc.kind}: {exc.reason}")
            return "denied"
        _record(delivery_id, error=exc.kind)
        raise DeliveryError(exc.kind) from None
    if not 200 <= code < 300:
        _record(delivery_id, code=code, error=f"answered HTTP {code}")
        raise DeliveryError(f"answered HTTP {code}")
    _record(delivery_id, code=code, status=WebhookDelivery.Status.DELIVERED)
    return "delivered"


def _superseded(delivery: WebhookDelivery) -> bool:
    return (
        delivery.kind == WebhookDelivery.Kind.STATUS
        and WebhookDelivery.objects.filter(
            release_id=delivery.release_id,
            kind=WebhookDelivery.Kind.STATUS,
            url=delivery.url,
            id__gt=delivery.id,
            status=WebhookDelivery.Status.DELIVERED,
        ).exists()
    )


def give_up(delivery_id: int, reason: str) -> None:
    WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING).update(
        status=WebhookDelivery.Status.FAILED, error=reason[:2000], modified=timezone.now()
    )


def _record(delivery_id: int, *, code=None, error="", status=None) -> None:
    fields = {"response_code": code, "error": error[:2000], "modified": timezone.now()}
    if status:
        fields["status"] = status
    WebhookDelivery.objects.filter(pk=delivery_id).update(**fields)
