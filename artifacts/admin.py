from django.contrib import admin

from .models import Artifact


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ("sha1", "content_type", "size", "created")
    list_filter = ("content_type",)
    search_fields = ("sha1",)
    readonly_fields = ("sha1", "content_type", "size", "created")
