from django.contrib import admin
from django.db import models

from .models import ARTIFACT_FIELDS, ApiKey, AuditLog, Build, Invitation, Release, Run


@admin.register(Build)
class BuildAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "public", "send_email", "created")
    list_filter = ("public",)
    search_fields = ("name",)
    filter_horizontal = ("owners",)
    exclude = ("artifacts",)


# A page's address typed without a scheme stays http:// (Django 6 would make it https://): the
# staging hosts Depicted captures often serve plain HTTP, and the API keeps URLs as sent.
URL_FIELD = {models.URLField: {"assume_scheme": "http"}}


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    formfield_overrides = URL_FIELD
    list_display = ("id", "build", "name", "number", "status", "created")
    list_filter = ("status",)
    search_fields = ("name", "build__name")
    list_select_related = ("build",)
    raw_id_fields = ("build",)
    # A status changes only through the state machine (services), never by hand.
    readonly_fields = ("status",)


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    formfield_overrides = URL_FIELD
    list_display = (
        "id",
        "name",
        "release",
        "status",
        "distortion",
        "pipeline_attempts",
        "modified",
    )
    list_filter = ("status", "size_changed")
    search_fields = ("name", "release__name", "failure_reason")
    list_select_related = ("release",)
    # Every artifact column, and the release, as ids (a select of every artifact is no use).
    raw_id_fields = (
        "release",
        *ARTIFACT_FIELDS,
        "aligned_diff_image",
        "recapture_image",
        "recapture_log",
        "noise_image",
        "thumbnail",
    )
    # A status changes only through the state machine (services), never by hand.
    readonly_fields = ("status", "recapture", "pipeline_attempts")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("id", "purpose", "build", "superuser", "active", "created", "last_used")
    list_filter = ("active", "superuser")
    search_fields = ("id", "purpose", "build__name")
    readonly_fields = ("id", "secret_hash", "created", "last_used", "revoked")
    raw_id_fields = ("build", "created_by")


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ("created", "build", "action", "user", "api_key", "message")
    list_filter = ("action",)
    search_fields = ("message", "build__name")
    raw_id_fields = ("build", "release", "run", "user", "api_key")
    list_select_related = ("build", "user", "api_key")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "build", "invited_by", "created")
    search_fields = ("email", "build__name")
    raw_id_fields = ("build", "invited_by")
