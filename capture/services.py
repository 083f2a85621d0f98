"""Capture one side of a run: read its config, screenshot the page, record the result."""

from __future__ import annotations

import atexit
import json
import logging
import socket
import threading
import time
from urllib.parse import urlsplit

from django.conf import settings

from artifacts import storage
from releases import access, endpoints, sealing
from releases import services as release_services

from . import config as capture_config
from . import layout as layouts
from .browser import Browser, CaptureError
from .engine import sandboxed
from .netpolicy import NetworkPolicy

logger = logging.getLogger(__name__)

_browser = None
_browser_lock = threading.Lock()


class TransientError(RuntimeError):
    """Worth retrying later: storage was unreachable."""


def shared_browser() -> Browser:
    """This process's Chromium, started on first use (so after a worker forks)."""
    global _browser
    with _browser_lock:
        if _browser is None:
            _browser = Browser(
                settings.CHROMIUM or None,
                max_pixels=settings.CAPTURE_MAX_PIXELS,
                policy=network_policy(),
                nice=settings.CAPTURE_NICE,
                layout_max_elements=settings.LAYOUT_MAX_ELEMENTS,
            )
            atexit.register(close_browser)
            if not sandboxed():
                logger.warning(
                    "running as root: Chromium's sandbox is off (--no-sandbox); run "
                    "capture workers as an unprivileged user to keep it on"
                )
        return _browser


def network_policy(what: str = "capture") -> NetworkPolicy:
    """The network policy of captures or of webhooks from the settings. ``self`` is this
    server's public address (DPXDT_PUBLIC_URL) and whatever its host name resolves to, every
    address and port a web process recorded listening on (releases.endpoints), and the names
    of DPXDT_ALLOWED_HOSTS at those ports."""
    own = []
    host = urlsplit(settings.PUBLIC_URL).hostname if settings.PUBLIC_URL else None
    if host:
        try:
            own = sorted({info[4][0] for info in socket.getaddrinfo(host, None)})
        except OSError as exc:
            logger.warning("could not resolve DPXDT_PUBLIC_URL's host %s: %s", host, exc)
    allow, deny = {
        "capture": (settings.CAPTURE_ALLOW, settings.CAPTURE_DENY),
        "webhook": (settings.WEBHOOK_ALLOW, settings.WEBHOOK_DENY),
    }[what]
    listening, local_addresses = endpoints.known()
    return NetworkPolicy.from_settings(
        allow,
        deny,
        settings.PUBLIC_URL,
        own,
        what=what,
        hosts=settings.ALLOWED_HOSTS,
        endpoints=listening,
        local_addresses=local_addresses,
    )


_policy_checked = 0.0
# How often a capture worker looks again for web servers' addresses.
POLICY_REFRESH_SECONDS = 30


def refresh_policy(browser: Browser) -> None:
    """A web server started after this worker, or on a new port, is "self" within
    POLICY_REFRESH_SECONDS."""
    global _policy_checked
    if time.monotonic() - _policy_checked >= POLICY_REFRESH_SECONDS:
        browser.set_policy(network_policy())
        _policy_checked = time.monotonic()


def warn_if_self_unknown() -> None:
    """At a capture worker's start: say so when nothing tells it the server's own address."""
    if not settings.PUBLIC_URL and not endpoints.known()[0]:
        logger.warning(
            "DPXDT_PUBLIC_URL is not set and no web server has recorded its address yet: "
            "until one serves a request, captures of the Depicted server itself are not "
            "refused. Set DPXDT_PUBLIC_URL to protect it from the start."
        )


def close_browser():
    global _browser
    with _browser_lock:
        if _browser is not None:
            _browser.close()
            _browser = None


def request_run(
    caller: access.Caller,
    build,
    *,
    release_name,
    release_number,
    run_name,
    config: capture_config.CaptureConfig,
    ref_config: capture_config.CaptureConfig | None = None,
    branch: str = "",
    base_branch: str = "",
):
    """Store the checked configs (targets set; secrets masked, and kept apart encrypted),
    then record the request; the captures are queued when it commits."""
    viewable, secrets = capture_config.split_secrets(config)
    config_artifact = release_services.store_artifact_for(
        build, viewable.to_json().encode(), "application/json"
    )
    ref_artifact, ref_secrets = None, {}
    if ref_config:
        ref_viewable, ref_secrets = capture_config.split_secrets(ref_config)
        ref_artifact = release_services.store_artifact_for(
            build, ref_viewable.to_json().encode(), "application/json"
        )
    return release_services.request_run(
        caller,
        build,
        release_name=release_name,
        release_number=release_number,
        run_name=run_name,
        url=config.targetUrl,
        config=config_artifact,
        ref_url=ref_config.targetUrl if ref_config else "",
        ref_config=ref_artifact,
        secrets=seal(secrets),
        ref_secrets=seal(ref_secrets),
        branch=branch,
        base_branch=base_branch,
    )


# The capture configs' secrets (cookies, passwords, header values), sealed for the run row.
SECRETS_PURPOSE = b"depicted capture config secrets"


def seal(secrets: dict) -> str:
    """Encrypt a config's secrets for the run row ("" when there are none)."""
    return sealing.seal(json.dumps(secrets), SECRETS_PURPOSE) if secrets else ""


def unseal(token: str) -> dict:
    """The secrets back; a token the current secret key cannot read is an error naming that."""
    try:
        return json.loads(sealing.unseal(token, SECRETS_PURPOSE)) if token else {}
    except sealing.Unreadable:
        raise capture_config.ConfigError(
            "the config's secrets cannot be decrypted (was DPXDT_SECRET_KEY changed?)"
        ) from None


def capture_run(run_id: int, side: str, step: release_services.Step | None = None) -> str:
    """Returns what happened: "skipped", "captured", "failed" or "dropped".

    A page that fails is tried again, up to DPXDT_CAPTURE_ATTEMPTS times with a short backoff,
    within this one call; then the run ends failed with the last reason, and the capture log of
    the last try is kept with the run."""
    claim = release_services.claim_for_capture(run_id, side, step)
    if claim is None:
        return "skipped"
    build = claim.run.release.build
    # A second look at a page whose difference its elements explain: its layout map only.
    layout_only = side == "recapture" and claim.run.recapture == claim.run.Recapture.LAYOUT
    try:
        stored = json.loads(storage.read_bytes(claim.config_sha1))
        config = with_build_settings(
            capture_config.parse(capture_config.merge_secrets(stored, unseal(claim.secrets))),
            build,
        )
    except storage.ArtifactMissing as exc:
        return _record_failure(claim, side, build, f"config artifact missing: {exc}", "")
    except (capture_config.ConfigError, ValueError) as exc:
        return _record_failure(claim, side, build, f"stored config is invalid: {exc}", "")
    except storage.TRANSIENT_ERRORS as exc:
        raise TransientError(f"could not read the config: {exc}") from exc

    # One browser context per build and release: nothing a page of one build leaves behind
    # (cookies, storage, a popup still running) can reach another build's capture, and no
    # release loads an asset another release cached.
    partition = f"build-{build.id}/release-{claim.run.release_id}"
    try:
        result = _capture(run_id, side, config, partition, layout_only)
    except _GaveUp as exc:
        return _record_failure(claim, side, build, exc.reason, exc.log)
    try:
        image = (
            release_services.store_artifact_for(build, result.png, "image/png")
            if result.png
            else None
        )
        log = release_services.store_artifact_for(build, result.log.encode(), "text/plain")
        layout = (
            release_services.store_artifact_for(build, result.layout, layouts.CONTENT_TYPE)
            if result.layout
            else None
        )
        # A page that differs from its baseline is diffed, and the diff makes the run's
        # thumbnail (of the diff image, or of this screenshot if nothing counts as changed):
        # made here too, it would only be replaced.
        thumbnail = (
            release_services.store_thumbnail_for(build, result.png)
            if side == "run" and image and not _differs_from_baseline(claim.run, image.sha1)
            else None
        )
        recheck = (
            _recheck(claim.run, image.sha1, config, partition, result.layout)
            if side == "run" and image and result.layout
            else None
        )
    except storage.TRANSIENT_ERRORS as exc:
        raise TransientError(f"could not store the screenshot: {exc}") from exc
    recorded = release_services.record_capture(
        claim, side, image=image, log=log, layout=layout, thumbnail=thumbnail, recheck=recheck
    )
    return "captured" if recorded is not None else "dropped"


class _GaveUp(Exception):
    """Every attempt at a capture failed (or one that cannot succeed): why, and the last log."""

    def __init__(self, reason: str, log: str):
        super().__init__(reason)
        self.reason, self.log = reason, log


def _capture(run_id: int, side: str, config, partition: str, layout_only: bool):
    """The page captured, tried up to DPXDT_CAPTURE_ATTEMPTS times with a short backoff."""
    attempts = settings.CAPTURE_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            browser = shared_browser()
            refresh_policy(browser)
            return browser.capture(config, partition=partition, layout_only=layout_only)
        except CaptureError as exc:
            logger.info(
                "run %s %s capture attempt %d/%d failed: %s",
                run_id,
                side,
                attempt,
                attempts,
                exc.reason,
            )
            if exc.permanent:  # the config itself: another try would fail the same way
                raise _GaveUp(exc.reason, exc.log) from None
            if attempt == attempts:
                reason = exc.reason + (f" (after {attempts} attempts)" if attempts > 1 else "")
                raise _GaveUp(reason, exc.log) from None
            time.sleep(settings.CAPTURE_RETRY_DELAY_SECONDS * 2 ** (attempt - 1))
    raise AssertionError("unreachable: the last attempt returns or raises")


def _recheck(run, image_sha1: str, config, partition: str, layout: bytes):
    """The diff's noise check made here, at once, where it will be wanted: a screenshot that
    differs from its baseline, with a layout map that differs from the baseline's, has the
    page loaded again for its map alone (``release_services.Recheck``; None when no recheck is
    wanted). Made now, it spares a first look by the diff worker and a capture of its own."""
    # Only a screenshot that goes to a diff against a baseline with a map, which would ask
    # for this load first if the two maps name a cause (they can only if they differ).
    if not _differs_from_baseline(run, image_sha1) or not release_services.wants_layout_recheck(
        run, with_map=True
    ):
        return None
    try:
        baseline = storage.read_bytes(run.ref_layout_id)
    except storage.ArtifactMissing:
        return None  # the diff says so, and judges by pixels
    if layouts.same_map(baseline, layout):
        return None  # the elements are the baseline's: no cause to check again
    build = run.release.build
    try:
        again = _capture(run.pk, "recapture", config, partition, layout_only=True)
    except _GaveUp as exc:
        log = (
            release_services.store_artifact_for(build, exc.log.encode(), "text/plain")
            if exc.log
            else None
        )
        return release_services.Recheck(log=log, failure=exc.reason)
    return release_services.Recheck(
        layout=release_services.store_artifact_for(build, again.layout, layouts.CONTENT_TYPE)
        if again.layout
        else None,
        log=release_services.store_artifact_for(build, again.log.encode(), "text/plain"),
    )


def with_build_settings(config, build):
    """The run's config with the build's own ``ignoreSelectors`` added: they apply to every
    run of the build, on both sides, so a capture marks those elements in its layout map."""
    extra = [line.strip() for line in build.ignore_selectors.splitlines() if line.strip()]
    if not extra:
        return config
    selectors = list(dict.fromkeys([*config.ignoreSelectors, *extra]))
    return capture_config.CaptureConfig(
        {**config.values, "ignoreSelectors": selectors}, config.warnings
    )


def _differs_from_baseline(run, image_sha1: str) -> bool:
    """Whether the run's screenshot goes to the diff: its baseline (or reference) is known
    and other bytes. Same bytes need no diff, and a reference still to be captured may."""
    return bool(run.ref_image_id) and run.ref_image_id != image_sha1


def _record_failure(claim, side, build, reason: str, log_text: str) -> str:
    log = None
    if log_text:
        try:
            log = release_services.store_artifact_for(build, log_text.encode(), "text/plain")
        except storage.TRANSIENT_ERRORS as exc:  # the failure itself must still be recorded
            logger.warning("could not store the capture log of run %s: %s", claim.run.pk, exc)
    recorded = release_services.record_capture(claim, side, log=log, failure=reason)
    return "failed" if recorded is not None else "dropped"
