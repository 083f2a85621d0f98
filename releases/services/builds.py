"""Builds and what they own: creating one, uploads, settings and API keys."""

from __future__ import annotations

import logging

from django.db import transaction

from artifacts import storage, thumbnails

from .. import access, webhooks
from ..models import AuditLog, Build, Release, Run

logger = logging.getLogger(__name__)

R = Release.Status
S = Run.Status


# --- builds and uploads ---------------------------------------------------------------------


def create_build(*, name: str, owner=None, public: bool = False) -> Build:
    with transaction.atomic():
        build = Build.objects.create(name=name, public=public)
        if owner is not None:
            build.owners.add(owner)
        AuditLog.record(AuditLog.Action.CREATED_BUILD, build_id=build.id, user=owner, message=name)
    return build


def upload(
    caller: access.Caller,
    build: Build,
    fileobj,
    *,
    filename: str | None,
    content_type: str | None = None,
):
    """Store an uploaded file (bytes first, then the row) and make ``build`` an owner."""
    content_type = content_type or storage.guess_content_type(filename)
    stored = storage.store_file(fileobj, content_type)
    build.artifacts.add(stored.artifact)  # add() is idempotent: one ownership row per build
    label(build, stored.artifact, content_type, filename or "")
    AuditLog.record(
        AuditLog.Action.UPLOAD,
        build_id=build.id,
        message=f"{stored.artifact.sha1} {filename or ''}",
        **caller.audit(),
    )
    return stored.artifact


def store_artifact_for(build: Build, data: bytes, content_type: str):
    """Store bytes made by a worker (diff image, log) and make ``build`` an owner."""
    stored = storage.store_bytes(data, content_type)
    build.artifacts.add(stored.artifact)
    label(build, stored.artifact, content_type, "")
    return stored.artifact


def store_thumbnail_for(
    build: Build, png: bytes | None = None, *, top=None, centre: int | None = None
):
    """The release page's small picture of a run, owned by ``build``, made from ``png`` (its
    top, or the rows around ``centre``) or from ``top``, an image's top already in memory
    (``thumbnails.thumbnail_of_pixels``); None if the image cannot be thumbnailed (the run is
    recorded all the same)."""
    try:
        if top is not None:
            small = thumbnails.thumbnail_of_pixels(top)
        elif png is not None:
            small = thumbnails.thumbnail(png, centre)
        else:
            raise ValueError("store_thumbnail_for needs png or top")
    except thumbnails.ThumbnailError as exc:
        logger.warning("no thumbnail: %s", exc)
        return None
    return store_artifact_for(build, small, "image/webp")


def label(build: Build, artifact, content_type: str, name: str):
    """What ``build`` calls ``artifact`` (its latest word on it); returns the ArtifactLabel."""
    from ..models import ArtifactLabel

    found, _ = ArtifactLabel.objects.update_or_create(
        build=build,
        artifact=artifact,
        defaults={"content_type": content_type[:255], "name": (name or "")[:255]},
    )
    return found


def label_of(build: Build, artifact):
    """The content type and file name ``build`` gave ``artifact`` (older ownerships, made before
    labels, fall back to the artifact's first content type)."""
    from ..models import ArtifactLabel

    found = ArtifactLabel.objects.filter(build=build, artifact=artifact).first()
    return (found.content_type, found.name) if found else (artifact.content_type, "")


# --- build administration -------------------------------------------------------------------


# Settings whose values the activity log never shows (only that they changed).
SECRET_SETTINGS = {"status_token"}


def update_settings(caller: access.Caller, build: Build, **values) -> Build:
    changed = [
        f"{name} changed" if name in SECRET_SETTINGS else f"{name}={value!r}"
        for name, value in values.items()
        if getattr(build, name) != value
    ]
    for name, value in values.items():
        setattr(build, name, value)
    if build.webhook_urls and not build.webhook_secret:
        build.webhook_secret = webhooks.new_secret()  # made when first needed, kept after
    with transaction.atomic():
        build.save()
        if changed:
            AuditLog.record(
                AuditLog.Action.CHANGED_SETTINGS,
                build_id=build.id,
                message=", ".join(changed),
                **caller.audit(),
            )
    return build


def create_api_key(caller: access.Caller, build: Build, purpose: str):
    from ..models import ApiKey

    with transaction.atomic():
        key, secret = ApiKey.create(build=build, purpose=purpose, created_by=caller.user)
        AuditLog.record(
            AuditLog.Action.CREATED_API_KEY,
            build_id=build.id,
            message=f"{key.id} ({purpose})",
            **caller.audit(),
        )
    return key, secret


def revoke_api_key(caller: access.Caller, build: Build, key_id: str):
    key = build.api_keys.filter(pk=key_id).first()  # only this build's keys
    if key is None:
        raise access.NotFound(f"API key {key_id} not found in build {build.id}")
    if key.active:
        key.revoke(user=caller.user)
    return key
