"""What a build keeps beside its releases: the audit log, webhook deliveries, the server's own
endpoints, its labels for shared artifacts, and invitations. Part of ``releases.models``."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from artifacts.models import Artifact

from .models import ApiKey, Build, Release, Run


class ArtifactLabel(models.Model):
    """How one build knows an artifact: the content type and file name it gave it. Identical
    bytes uploaded by two builds are one Artifact, but what each build called them is its own
    (another build's label is never shown, nor used to serve the bytes)."""

    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="artifact_labels")
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="labels")
    content_type = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["build", "artifact"], name="artifact_label_unique")
        ]

    def __str__(self):
        return f"{self.name or self.artifact_id} ({self.content_type})"


class Invitation(models.Model):
    """An owner invited by email who has no account yet; claimed when someone with that email
    signs in."""

    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(fields=["build", "email"], name="invitation_unique_email")
        ]

    def __str__(self):
        return f"{self.email} → {self.build}"


class AuditLog(models.Model):
    """Every human and API action on a build, newest first."""

    class Action(models.TextChoices):
        """Every kind of entry; a status change is ``release_<status>`` / ``run_<status>``."""

        CREATED_BUILD = "created_build", "created the build"
        CHANGED_SETTINGS = "changed_settings", "changed the settings"
        CREATED_API_KEY = "created_api_key", "created an API key"
        REVOKED_API_KEY = "revoked_api_key", "revoked an API key"
        INVITED_OWNER = "invited_owner", "invited an owner"
        INVITE_ACCEPTED = "invite_accepted", "accepted an invitation"
        REMOVED_OWNER = "removed_owner", "removed an owner"
        UPLOAD = "upload", "uploaded a file"
        CREATED_RELEASE = "created_release", "created a release"
        REPORT_RUN = "report_run", "reported a run"
        REQUEST_RUN = "request_run", "requested a capture"
        RELEASE_RECEIVING = "release_receiving", "receiving"
        RELEASE_PROCESSING = "release_processing", "processing"
        RELEASE_REVIEWING = "release_reviewing", "ready for review"
        RELEASE_GOOD = "release_good", "marked good"
        RELEASE_BAD = "release_bad", "marked bad"
        RUN_DATA_PENDING = "run_data_pending", "run waits for data"
        RUN_NEEDS_DIFF = "run_needs_diff", "run waits for its diff"
        RUN_DIFF_FOUND = "run_diff_found", "run changed"
        RUN_DIFF_APPROVED = "run_diff_approved", "run change approved"
        RUN_DIFF_NOT_FOUND = "run_diff_not_found", "run unchanged"
        RUN_NO_DIFF_NEEDED = "run_no_diff_needed", "run is a baseline"
        RUN_FLAKY = "run_flaky", "run flaky"
        RUN_FAILED = "run_failed", "run failed"
        APPROVED_GROUP = "approved_group", "approved a group of changes"
        PINNED_RELEASE = "pinned_release", "pinned a release"
        UNPINNED_RELEASE = "unpinned_release", "unpinned a release"
        COLLECTED = "collected", "collected old releases"

        @classmethod
        def release(cls, status: str) -> AuditLog.Action:
            return cls(f"release_{status}")

        @classmethod
        def run(cls, status: str) -> AuditLog.Action:
            return cls(f"run_{status}")

    # The entries that say how a release got its review state (shown on the release page).
    MARKS = (Action.RELEASE_GOOD, Action.RELEASE_BAD, Action.RELEASE_REVIEWING)

    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="audit_log")
    release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=40, choices=Action.choices)
    message = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["build", "-created"])]

    def __str__(self):
        return f"{self.action}: {self.message}"

    @classmethod
    def record(
        cls,
        action,
        *,
        build_id,
        release=None,
        release_id=None,
        run=None,
        user=None,
        api_key=None,
        message="",
    ):
        if user is not None and not getattr(user, "is_authenticated", False):
            user = None
        return cls.objects.create(
            action=cls.Action(action),  # ValueError for anything not in the list
            build_id=build_id,
            release_id=release_id or getattr(release, "id", None),
            run=run,
            user=user,
            api_key=api_key,
            message=message[:10000],
        )


class WebhookDelivery(models.Model):
    """One event POSTed to one webhook URL, with what happened to it (the delivery log)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="webhook_deliveries")
    release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        STATUS = "status", "Commit status"

    # A webhook (signed with the build's secret) or a commit status (the provider's token).
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.WEBHOOK)
    event = models.CharField(max_length=40)
    url = models.URLField(max_length=2048)
    payload = models.TextField()  # the exact JSON body that is signed and sent
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["build", "-created"])]

    def __str__(self):
        return f"{self.kind} {self.event} to {self.url}: {self.status}"


class ServerEndpoint(models.Model):
    """An address and port a Depicted web process was seen serving on, recorded by the web
    process itself (releases.endpoints): the network policy's ``self`` (captures and webhooks
    never reach the server, whatever address it is asked by). ``machine`` is the host's
    identity: a wildcard or loopback bind is the server only on that machine;
    ``machine_addresses`` are that machine's own addresses (a wildcard bind answers on each)."""

    machine = models.CharField(max_length=255)
    address = models.CharField(max_length=64)
    port = models.PositiveIntegerField()
    machine_addresses = models.TextField(blank=True, default="")  # comma-separated
    seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "address", "port"], name="server_endpoint_unique"
            )
        ]

    def __str__(self):
        return f"{self.address}:{self.port} on {self.machine}"
