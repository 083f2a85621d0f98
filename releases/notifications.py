"""Email when a release is ready for review (Django's email backend; the console by default)."""

from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from .models import Release, Run

logger = logging.getLogger(__name__)


def absolute(path: str) -> str:
    return f"{settings.PUBLIC_URL}{path}" if settings.PUBLIC_URL else path


def recipients(build) -> list[str]:
    if build.email_alias:
        return [build.email_alias]
    return sorted(
        {owner.email for owner in build.owners.all() if owner.email}
        | set(build.invitations.values_list("email", flat=True))
    )


def release_ready(release_id: int) -> bool:
    """Send the "ready for review" email once the release reached reviewing. Returns whether
    an email went out. A mail failure is logged: it must not undo the review state."""
    release = Release.objects.select_related("build").get(pk=release_id)
    build = release.build
    to = recipients(build)
    runs = release.runs.all()
    if not build.send_email or not to or not runs.exists():
        return False
    changed = list(runs.filter(status=Run.Status.DIFF_FOUND).order_by("name")[:200])
    failed = runs.filter(status=Run.Status.FAILED).count()
    context = {
        "build": build,
        "release": release,
        "release_url": absolute(release.get_absolute_url()),
        "changed": [(run, absolute(release.run_url(run.name))) for run in changed],
        "changed_count": runs.filter(status=Run.Status.DIFF_FOUND).count(),
        "failed": failed,
        "total": runs.count(),
    }
    subject = f"{build.name}: {release.name} - Ready for review"
    try:
        send_mail(
            subject,
            render_to_string("releases/email/ready_for_review.txt", context),
            settings.DEFAULT_FROM_EMAIL,
            to,
            html_message=render_to_string("releases/email/ready_for_review.html", context),
        )
    except (smtplib.SMTPException, OSError):
        logger.exception("could not send the review email for release %s", release_id)
        return False
    return True
