"""Build → Release (an attempt) → Run, API keys and the audit log.

Each model with a status has one transition table and one setter, ``transition_to()``; nothing
else assigns ``status``. The setter validates the move, saves with ``update_fields`` and writes
an audit row. ``releases.services`` decides *when* to move; this module only says what moves
are legal.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from artifacts.models import Artifact

from . import runstate
from .runstate import InvalidTransition

__all__ = ["InvalidTransition"]  # with the rule it enforces (runstate), raised here too

# A git branch name as CI systems give it: no spaces, control characters or ~^:?*[\.
BRANCH_NAME = re.compile(r"^[^\s\x00-\x1f\x7f~^:?*\[\\]{1,255}$")


def ArtifactField():  # noqa: N802 - reads like a field class where it is used
    return models.ForeignKey(
        Artifact, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )


class Build(models.Model):
    """A project (desktop site, mobile site, ...), not a CI build: dpxdt's word, kept for the
    API."""

    name = models.CharField(max_length=200)
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="builds", blank=True)
    public = models.BooleanField(default=False)
    send_email = models.BooleanField(default=True)
    email_alias = models.EmailField(blank=True)
    # Diff settings; a run's config overrides them, settings.DIFF_THRESHOLD is the fallback.
    diff_threshold = models.FloatField(
        null=True, blank=True, help_text="pixelmatch colour threshold 0..1 (default 0.1)"
    )
    max_distortion = models.FloatField(
        default=0.0,
        help_text="Changed-pixel fraction (0..1) still treated as 'no difference'.",
    )

    class Metric(models.TextChoices):
        OKLAB = "oklab", "Perceptual (OKLab, pixelmatch main)"
        YIQ = "yiq", "YIQ (pixelmatch 7.2.0)"

    # New builds get the perceptual metric; builds made before it existed keep YIQ (the
    # migration sets it) until an owner switches, so their verdicts do not change under them.
    diff_metric = models.CharField(max_length=8, choices=Metric.choices, default=Metric.OKLAB)
    # A captured page that differs from its baseline is captured again this many times (0 or
    # 1); if the captures differ from each other, what moved is noise, masked out of the diff,
    # and a run whose only differences are noise is "flaky".
    recaptures = models.PositiveSmallIntegerField(default=1)
    # Whether a flaky run fails a CI check (the client tools' --wait) like a changed one.
    flaky_blocks = models.BooleanField(default=False)
    # CSS selectors (one per line) whose elements' changes never count, in every run of the
    # build (added to a run config's ignoreSelectors); the screenshots still show them.
    ignore_selectors = models.TextField(blank=True)
    # Where release events are POSTed (one URL per line), signed with webhook_secret.
    webhook_urls = models.TextField(blank=True)
    webhook_secret = models.CharField(max_length=64, blank=True)
    # Retention (releases/services/retention.py): releases older than keep_days that are not
    # among the newest keep_releases are collected, baselines and pinned releases excepted.
    # Blank: the server's DPXDT_KEEP_DAYS / DPXDT_KEEP_RELEASES. 0 days: any age.
    keep_days = models.PositiveIntegerField(null=True, blank=True)
    keep_releases = models.PositiveIntegerField(null=True, blank=True)
    # The branch releases without one are on, and the one a branch's runs fall back to for a
    # baseline when the branch has no good run of the name (``runs.baseline_run``).
    main_branch = models.CharField(max_length=255, default="main")

    class StatusProvider(models.TextChoices):
        NONE = "", "None"
        GITHUB = "github", "GitHub (or GitHub Enterprise)"
        GITLAB = "gitlab", "GitLab"

    # Where a release's verdict is reported as a commit status (releases/statuses.py): the
    # provider, its API base URL (blank: github.com's or gitlab.com's), the repository
    # (GitHub: owner/repo; GitLab: the project's id or path) and a token, sealed (never shown).
    status_provider = models.CharField(
        max_length=10, choices=StatusProvider.choices, default="", blank=True
    )
    status_api_url = models.URLField(max_length=500, blank=True)
    status_repository = models.CharField(max_length=255, blank=True)
    status_token = models.TextField(blank=True, editable=False)
    # Builds that may read an artifact; identical bytes uploaded by two builds have two owners.
    artifacts = models.ManyToManyField(Artifact, related_name="owners", blank=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return f"{self.name} (#{self.id})"


class Release(models.Model):
    """One attempt ("release candidate") at a named release of a build."""

    class Status(models.TextChoices):
        RECEIVING = "receiving", "Receiving"
        PROCESSING = "processing", "Processing"
        REVIEWING = "reviewing", "Reviewing"
        GOOD = "good", "Good"
        BAD = "bad", "Bad"

    TRANSITIONS = {
        Status.RECEIVING: {Status.PROCESSING, Status.GOOD, Status.BAD},
        Status.PROCESSING: {Status.REVIEWING, Status.GOOD, Status.BAD},
        # Back to processing when an owner retries failed runs.
        Status.REVIEWING: {Status.GOOD, Status.BAD, Status.PROCESSING},
        Status.GOOD: {Status.REVIEWING},
        Status.BAD: {Status.REVIEWING},
    }
    CLOSED = {Status.GOOD, Status.BAD}

    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="releases")
    name = models.CharField(max_length=255)
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVING)
    url = models.URLField(max_length=2048, blank=True)
    # An owner's "keep this one": retention never collects it.
    pinned = models.BooleanField(default=False)
    # The branch this release is on ("": the build's main branch), the branch its runs take a
    # baseline from when their own has none ("": the main branch), and the commit it tests.
    branch = models.CharField(max_length=255, blank=True, default="")
    base_branch = models.CharField(max_length=255, blank=True, default="")
    commit_sha = models.CharField(max_length=64, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["build", "name", "number"], name="release_unique_attempt"
            )
        ]
        indexes = [models.Index(fields=["build", "status", "created"])]

    def __str__(self):
        return f"{self.name} #{self.number}"

    def get_absolute_url(self, **extra: str) -> str:
        query: dict[str, str | int] = {"id": self.build_id, "name": self.name}
        return reverse("release") + "?" + urlencode({**query, "number": self.number, **extra})

    @property
    def is_closed(self) -> bool:
        return self.status in self.CLOSED

    def branch_of(self, build: Build | None = None) -> str:
        """The branch this release is on, the build's main branch when it names none."""
        return self.branch or (build or self.build).main_branch

    def run_url(self, run_name: str) -> str:
        query: dict[str, str | int] = {"id": self.build_id, "name": self.name}
        return reverse("run") + "?" + urlencode({**query, "number": self.number, "test": run_name})

    def run_counts(self) -> dict[str, int]:
        """How many of its runs are in each status (every status named)."""
        counts = dict.fromkeys(Run.Status.values, 0)
        for row in self.runs.values("status").annotate(n=models.Count("id")):
            counts[row["status"]] = row["n"]
        return counts

    def transition_to(self, new, *, user=None, api_key=None, message=""):
        _check_transition("release", self.status, new, self.TRANSITIONS)
        old = self.status
        self.status = new
        self.save(update_fields=["status", "modified"])
        AuditLog.record(
            AuditLog.Action.release(new),
            build_id=self.build_id,
            release=self,
            user=user,
            api_key=api_key,
            message=message or f"{old} → {new}",
        )


class Run(models.Model):
    """One named screenshot pair in a release: "after" (image) against "before" (ref_image)."""

    class Status(models.TextChoices):
        DATA_PENDING = "data_pending", "Data pending"
        NEEDS_DIFF = "needs_diff", "Diff pending"
        DIFF_FOUND = "diff_found", "Diff found"
        DIFF_APPROVED = "diff_approved", "Diff found and approved"
        DIFF_NOT_FOUND = "diff_not_found", "Same"
        NO_DIFF_NEEDED = "no_diff_needed", "Diff not required"
        FLAKY = "flaky", "Flaky"
        FAILED = "failed", "Run failed"

    S = Status
    TRANSITIONS = runstate.TRANSITIONS
    # Statuses a release waits for; every other status is final for completion purposes
    # (a failed run is final, so a release always reaches reviewing).
    PENDING = {S.DATA_PENDING, S.NEEDS_DIFF}
    del S
    # Everything a run holds about its current inputs beyond the inputs themselves: the diff's
    # artifacts and figures, its causes, the second look (a recapture) before it. New inputs
    # make them stale: ``reset_outputs()`` clears them.
    OUTPUT_FIELDS = (
        "diff_image",
        "diff_log",
        "aligned_diff_image",
        "noise_image",
        "cause_crop",
        "recapture_image",
        "recapture_log",
        "recapture_layout",
        "summary",
        "causes",
        "cause_key",
        "distortion",
        "changed_pixels",
        "noise_pixels",
        "size_changed",
        "recapture",
    )

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="runs")
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DATA_PENDING)

    # "After": the release's page. Artifact columns hold SHA-1s (Artifact's primary key).
    url = models.URLField(max_length=2048, blank=True)
    image = ArtifactField()
    log = ArtifactField()
    config = ArtifactField()
    # The secret parts of the configs (passwords, cookie values, header values), encrypted
    # (capture.services); the config artifacts anyone may view hold "••••" in their place.
    config_secrets = models.TextField(blank=True, editable=False)
    ref_config_secrets = models.TextField(blank=True, editable=False)
    # "Before": the reference or baseline page.
    ref_url = models.URLField(max_length=2048, blank=True)
    ref_image = ArtifactField()
    ref_log = ArtifactField()
    ref_config = ArtifactField()
    # The diff of the two.
    diff_image = ArtifactField()
    diff_log = ArtifactField()
    # A small picture for the release page: of the diff if there is one, else of the page.
    thumbnail = ArtifactField()
    # The diff with moved rows lined up (only when rows moved): moved-but-equal content is not red.
    aligned_diff_image = ArtifactField()
    # Each capture's layout map (capture.layout: its elements, boxes, painted styles), when the
    # capture recorded one; the diff names its causes from the two (pdiff.causes).
    layout = ArtifactField()
    ref_layout = ArtifactField()
    # What the diff found, in the page's terms: its summary (one line per cause), the causes
    # (pdiff.causes.Cause.as_dict(), boxes trimmed), and the key that groups the release's runs
    # with the same causes (empty: not groupable, e.g. pixels changed with no cause).
    summary = models.TextField(blank=True)
    causes = models.JSONField(null=True, blank=True)
    cause_key = models.CharField(max_length=40, blank=True, db_index=True)
    # Before and after crops of the first change, side by side (the release page's groups).
    cause_crop = ArtifactField()

    # A second capture of the page (build.recaptures), taken when the first differed from the
    # baseline; what differs between the two is noise, shown as noise_image (a diff of the two).
    class Recapture(models.TextChoices):
        NONE = "", "Not taken"
        WANTED = "wanted", "Wanted"
        DONE = "done", "Taken"
        FAILED = "failed", "Failed"
        # A second load of the page for its layout map only (no screenshot): when the elements
        # explain the difference, whether they are the same again.
        LAYOUT = "layout", "Layout recheck wanted"
        LAYOUT_DONE = "layout_done", "Layout rechecked"

    recapture = models.CharField(max_length=12, choices=Recapture.choices, default="", blank=True)
    recapture_image = ArtifactField()
    recapture_log = ArtifactField()
    recapture_layout = ArtifactField()
    noise_image = ArtifactField()
    noise_pixels = models.BigIntegerField(null=True, blank=True)

    distortion = models.FloatField(null=True, blank=True)
    changed_pixels = models.BigIntegerField(null=True, blank=True)
    size_changed = models.BooleanField(default=False)
    failure_reason = models.TextField(blank=True)
    # The last transient error (storage or network) of a step still being retried: the reason
    # a run gives if it then runs out of attempts.
    last_error = models.TextField(blank=True)
    # How many times the pipeline has started work on the current inputs (the sweeper and a
    # redelivered message both count); past settings.MAX_PIPELINE_ATTEMPTS the run fails.
    pipeline_attempts = models.PositiveIntegerField(default=0)
    # When the work the run waits for (its captures or its diff) was sent to the broker; empty
    # while it waits for its build's turn (settings.BUILD_CAPTURES_IN_FLIGHT, ...) or for a
    # client. Runs sent and not finished are their build's work in flight.
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["release", "name"], name="run_unique_name")]
        indexes = [
            models.Index(fields=["status", "modified"]),
            models.Index(fields=["status", "queued_at"]),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def locked(cls, pk, **filters) -> Run | None:
        """The run, its row locked until the transaction ends, with its release and build;
        None if it is gone or does not match ``filters``. The one way code locks a run."""
        return (
            cls.objects.select_for_update()
            .select_related("release__build")
            .filter(pk=pk, **filters)
            .first()
        )

    @classmethod
    def locked_many(cls, **filters):
        """Runs matching ``filters``, their rows locked until the transaction ends, by name."""
        return (
            cls.objects.select_for_update()
            .select_related("release__build")
            .filter(**filters)
            .order_by("name")
        )

    def reset_outputs(self) -> set[str]:
        """Clear what the diff (and the second look before it) made of the current inputs,
        which new inputs make stale; returns the fields that changed (to be saved)."""
        changed = set()
        for name in self.OUTPUT_FIELDS:
            field = self._meta.get_field(name)
            if not isinstance(field, models.Field):
                raise TypeError(f"{name} is not a field of Run")
            default = field.get_default()
            if getattr(self, field.attname) != default:
                setattr(self, field.attname, default)
                changed.add(name)
        return changed

    def transition_to(self, new, *, user=None, api_key=None, message="", fields=()):
        """Move to ``new`` and save it together with ``fields`` (already set on self)."""
        _check_transition(f"run {self.name!r}", self.status, new, self.TRANSITIONS)
        old = self.status
        self.status = new
        self.save(update_fields=["status", "modified", *fields])
        AuditLog.record(
            AuditLog.Action.run(new),
            build_id=self.release.build_id,
            release_id=self.release_id,
            run=self,
            user=user,
            api_key=api_key,
            message=message or f"{old} → {new}",
        )


class Lease(models.Model):
    """A worker's hold on one step of a run (a side's capture, or the diff) while it works on
    it. The worker renews it every few seconds; a lease left to expire (its worker was killed,
    its host went away) lets the sweeper hand the step to another worker at once, instead of
    waiting for the broker to give the message back."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="leases")
    step = models.CharField(max_length=10)  # a capture side (run, ref, recapture) or "diff"
    holder = models.CharField(max_length=255)  # the worker and its task
    until = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="lease_unique_step")]

    def __str__(self):
        return f"{self.run_id}/{self.step} held by {self.holder} until {self.until}"


# The artifact columns of a run; the API names them the same.
ARTIFACT_FIELDS = (
    "image",
    "log",
    "config",
    "ref_image",
    "ref_log",
    "ref_config",
    "diff_image",
    "diff_log",
    "layout",
    "ref_layout",
)


def _check_transition(what, old, new, table):
    if new not in table.get(old, ()):
        raise InvalidTransition(f"{what} cannot go from {old} to {new}")


def _hash_secret(secret: str) -> str:
    # The secret is 256 random bits, so one SHA-256 is as strong as a slow hash here and keeps
    # every API request cheap (a password hasher would cost ~100 ms per call).
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(models.Model):
    """HTTP Basic credentials for the API: id + secret, scoped to one build (or all, superuser).

    Only a hash of the secret is stored; the secret is shown once, when the key is created."""

    id = models.CharField(max_length=40, primary_key=True)
    secret_hash = models.CharField(max_length=64)
    build = models.ForeignKey(
        Build, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys"
    )
    superuser = models.BooleanField(default=False)
    purpose = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    revoked = models.DateTimeField(null=True, blank=True)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(superuser=True) | models.Q(build__isnull=False),
                name="api_key_scoped_or_superuser",
            )
        ]

    def __str__(self):
        return f"{self.id} ({self.purpose or 'no purpose'})"

    @classmethod
    def create(cls, *, build=None, superuser=False, purpose="", created_by=None):
        """Create a key; returns (key, secret). The secret cannot be recovered later."""
        secret = secrets.token_urlsafe(32)
        key = cls.objects.create(
            id=secrets.token_hex(16),
            secret_hash=_hash_secret(secret),
            build=build,
            superuser=superuser,
            purpose=purpose,
            created_by=created_by,
        )
        return key, secret

    def check_secret(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, _hash_secret(secret))

    def revoke(self, *, user=None):
        self.active = False
        self.revoked = timezone.now()
        self.save(update_fields=["active", "revoked"])
        if self.build_id:
            AuditLog.record(
                AuditLog.Action.REVOKED_API_KEY, build_id=self.build_id, user=user, message=self.id
            )


# The build's records and its people, kept in their own module; imported here, after the models
# they point to, so that Django registers them with the rest of the app's models.
from .records import (  # noqa: E402
    ArtifactLabel,
    AuditLog,
    Invitation,
    ServerEndpoint,
    WebhookDelivery,
)

__all__ += ["ArtifactLabel", "AuditLog", "Invitation", "ServerEndpoint", "WebhookDelivery"]
