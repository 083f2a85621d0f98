"""Every permission check, written once.

Views and API endpoints never filter a raw id themselves: they ask here for the build (and the
release, run or artifact inside it), and get the object or a ``NotFound`` that does not reveal
whether the object exists. A run, release or artifact is always looked up *inside* a build the
caller may use; that is what stops an owner of one build from touching another's runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q

from artifacts.models import Artifact

from .models import ApiKey, Build, Release, Run


class NotFound(LookupError):
    """The object does not exist or the caller may not see it (deliberately the same)."""


class Forbidden(PermissionError):
    """The caller may see the object but not do this to it."""


@dataclass(frozen=True)
class Caller:
    """Who is asking: a user (session) or an API key, never both."""

    user: AbstractBaseUser | AnonymousUser | None = None
    api_key: ApiKey | None = None

    @property
    def is_superuser(self) -> bool:
        if self.api_key is not None:
            return self.api_key.superuser
        user = self.user
        return bool(user is not None and user.is_active and getattr(user, "is_superuser", False))

    def audit(self) -> dict:
        """Keyword arguments naming this caller in an audit row."""
        return {"user": self.user if self.api_key is None else None, "api_key": self.api_key}


def caller_for_request(request) -> Caller:
    if isinstance(getattr(request, "auth", None), ApiKey):
        return Caller(api_key=request.auth)
    return Caller(user=request.user)


def can_act(caller: Caller, build: Build) -> bool:
    if caller.is_superuser:
        return True
    if caller.api_key is not None:
        return caller.api_key.active and caller.api_key.build_id == build.id
    user = caller.user
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return build.owners.filter(pk=user.pk).exists()


def visible_builds(caller: Caller):
    if caller.is_superuser:
        return Build.objects.all()
    if caller.api_key is not None:  # a build's key (a superuser's sees them all, above)
        build_id = caller.api_key.build_id
        return Build.objects.filter(pk=build_id) if build_id else Build.objects.none()
    user = caller.user
    if user is not None and user.is_authenticated:
        return Build.objects.filter(Q(public=True) | Q(owners=user)).distinct()
    return Build.objects.filter(public=True)


def build_for(caller: Caller, build_id, *, act: bool = False) -> Build:
    """The build ``build_id`` if the caller may view it (or act on it, with ``act``)."""
    try:
        build = Build.objects.get(pk=int(build_id))
    except (Build.DoesNotExist, TypeError, ValueError):
        raise NotFound(f"build {build_id} not found") from None
    if can_act(caller, build):  # one ownership query; viewing needs only the public flag now
        return build
    if not (build.public and caller.api_key is None):
        raise NotFound(f"build {build_id} not found")
    if act:
        raise Forbidden(f"you may view build {build.id} but not change it")
    return build


def build_to_manage(caller: Caller, build_id) -> Build:
    """The build ``build_id`` for its owners' pages (settings, keys, owners, activity): to
    everyone else, owners-only pages do not exist, even on a public build."""
    build = build_for(caller, build_id)
    if not can_act(caller, build):
        raise NotFound(f"build {build_id} not found")
    return build


def release_in(build: Build, name: str, number, *, for_update: bool = False) -> Release:
    queryset = Release.objects.filter(build=build, name=name)
    if for_update:
        queryset = queryset.select_for_update()
    try:
        return queryset.get(number=int(number))
    except (Release.DoesNotExist, TypeError, ValueError):
        raise NotFound(f"release {name!r} #{number} not found in build {build.id}") from None


def run_in(release: Release, name: str, *, for_update: bool = False) -> Run:
    queryset = (
        Run.locked_many(release=release, name=name)
        if for_update
        else Run.objects.filter(release=release, name=name).select_related("release")
    )
    try:
        return queryset.get()
    except Run.DoesNotExist:
        raise NotFound(
            f"run {name!r} not found in release {release.name!r} #{release.number}"
        ) from None


def artifact_in(build: Build, sha1: str) -> Artifact:
    """An artifact the build owns (identical bytes of another build are not enough)."""
    try:
        return build.artifacts.get(sha1=str(sha1).lower())
    except Artifact.DoesNotExist:
        raise NotFound(f"artifact {sha1} not found in build {build.id}") from None
