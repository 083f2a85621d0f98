"""Commit statuses: a release's verdict shown on the commit it tests, in GitHub or GitLab.

A build's settings name one target (provider, API base URL, repository, token). For a release
that carries a commit SHA: ``pending`` when it is created; when it reaches review, ``success``
if nothing changed (a flaky run counts as the build says), else ``failure`` ("3 changes need
review") linking to the release; marked good, ``success``; marked bad, ``failure``. Each is a
WebhookDelivery of kind "status", so it is sent by a worker with the webhooks' retries,
delivery log and network policy (capture.tasks); the token is added when it is sent, never
stored in the delivery.

GitHub: ``POST {api}/repos/{owner}/{repo}/statuses/{sha}``, ``Authorization: Bearer``, context
``depicted/<build>``. GitLab: ``POST {api}/projects/{id}/statuses/{sha}``, ``PRIVATE-TOKEN``,
name ``depicted/<build>``.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from . import sealing
from .models import Build, Release, WebhookDelivery

TOKEN_PURPOSE = b"depicted commit status token"
DEFAULT_API = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
# What each provider calls the three states.
STATES = {
    "github": {"pending": "pending", "success": "success", "failure": "failure"},
    "gitlab": {"pending": "pending", "success": "success", "failure": "failed"},
}
R = Release.Status


def seal_token(token: str) -> str:
    return sealing.seal(token, TOKEN_PURPOSE)


def endpoint(build: Build, sha: str) -> str:
    api = (build.status_api_url or DEFAULT_API[build.status_provider]).rstrip("/")
    if build.status_provider == "github":
        return f"{api}/repos/{build.status_repository}/statuses/{sha}"
    return f"{api}/projects/{quote(build.status_repository, safe='')}/statuses/{sha}"


def headers(build: Build) -> dict:
    """The provider's authentication, with the token unsealed at the last moment."""
    token = sealing.unseal(build.status_token, TOKEN_PURPOSE)
    if build.status_provider == "github":
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
    return {"PRIVATE-TOKEN": token}


def verdict(release: Release) -> tuple[str, str]:
    """(state, description) of a release in its current status."""
    if release.status == R.GOOD:
        return "success", "marked good"
    if release.status == R.BAD:
        return "failure", "marked bad"
    if release.status != R.REVIEWING:
        return "pending", "Depicted is comparing the pages"
    counts = release.run_counts()
    changed, failed, flaky = counts["diff_found"], counts["failed"], counts["flaky"]
    if changed:
        return "failure", f"{changed} change{'s need' if changed != 1 else ' needs'} review"
    if failed:
        return "failure", f"{failed} run{'s' if failed != 1 else ''} failed"
    if flaky and release.build.flaky_blocks:
        return "failure", f"{flaky} flaky run{'s' if flaky != 1 else ''}"
    return "success", f"no changes in {sum(counts.values())} runs"


def record(release: Release, target_url: str) -> WebhookDelivery | None:
    """The status delivery of the release's current state (inside the transaction that changed
    it); None when the build has no status target or the release no commit."""
    build = release.build
    if not build.status_provider or not release.commit_sha or not build.status_repository:
        return None
    state, description = verdict(release)
    name = f"depicted/{build.name}"
    body = {
        "state": STATES[build.status_provider][state],
        "target_url": target_url,
        "description": description[:140],
    }
    body["context" if build.status_provider == "github" else "name"] = name
    return WebhookDelivery.objects.create(
        build=build,
        release=release,
        kind=WebhookDelivery.Kind.STATUS,
        event=f"status.{state}",
        url=endpoint(build, release.commit_sha),
        payload=json.dumps(body, sort_keys=True),
    )
