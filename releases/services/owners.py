"""Owners and invitations: who may act on a build."""

from __future__ import annotations

import logging

from django.db import transaction

from .. import access
from ..models import AuditLog, Build, Release, Run
from .errors import Rejected

logger = logging.getLogger(__name__)

R = Release.Status
S = Run.Status


# --- owners and invitations ---------------------------------------------------------------


def invite_owner(caller: access.Caller, build: Build, email: str) -> str:
    """Add the user with this email as an owner, or invite the email until someone with it
    signs in. Returns "added", "invited" or "already"."""
    from django.contrib.auth import get_user_model

    from ..models import Invitation

    email = email.strip().lower()
    user = get_user_model().objects.filter(email__iexact=email, is_active=True).first()
    with transaction.atomic():
        if user is not None:
            if build.owners.filter(pk=user.pk).exists():
                return "already"
            build.owners.add(user)
            result = "added"
        else:
            _, created = Invitation.objects.get_or_create(
                build=build, email=email, defaults={"invited_by": caller.user}
            )
            if not created:
                return "already"
            result = "invited"
        AuditLog.record(
            AuditLog.Action.INVITED_OWNER,
            build_id=build.id,
            message=f"{email} ({result})",
            **caller.audit(),
        )
    return result


def remove_owner(caller: access.Caller, build: Build, user_id) -> None:
    if caller.user is not None and str(caller.user.pk) == str(user_id):
        raise Rejected("you cannot remove yourself; ask another owner")
    owner = build.owners.filter(pk=user_id).first()
    if owner is None:
        raise access.NotFound(f"user {user_id} is not an owner of build {build.id}")
    with transaction.atomic():
        build.owners.remove(owner)
        AuditLog.record(
            AuditLog.Action.REMOVED_OWNER,
            build_id=build.id,
            message=owner.email or owner.get_username(),
            **caller.audit(),
        )


def cancel_invitation(caller: access.Caller, build: Build, email: str) -> None:
    with transaction.atomic():
        deleted, _ = build.invitations.filter(email=email).delete()
        if deleted:
            AuditLog.record(
                AuditLog.Action.REMOVED_OWNER,
                build_id=build.id,
                message=f"{email} (invitation)",
                **caller.audit(),
            )


def claim_invitations(user) -> int:
    """Make a user who just signed in an owner of every build that invited their email."""
    from ..models import Invitation

    if not user.email:
        return 0
    claimed = 0
    with transaction.atomic():
        for invitation in Invitation.objects.select_related("build").filter(
            email__iexact=user.email
        ):
            invitation.build.owners.add(user)
            AuditLog.record(
                AuditLog.Action.INVITE_ACCEPTED,
                build_id=invitation.build_id,
                user=user,
                message=user.email,
            )
            invitation.delete()
            claimed += 1
    return claimed
