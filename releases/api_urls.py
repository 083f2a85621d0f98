"""The releases app's part of /api/ (dpxdt's API); dpxdt_site/urls.py mounts every app's."""

from django.urls import path

from . import api

urlpatterns = [
    path("create_release", api.create_release, name="api-create-release"),
    path("find_run", api.find_run, name="api-find-run"),
    path("upload", api.upload, name="api-upload"),
    path("report_run", api.report_run, name="api-report-run"),
    path("runs_done", api.runs_done, name="api-runs-done"),
    path("release_status", api.release_status, name="api-release-status"),
    path("mark_release", api.mark_release, name="api-mark-release"),
    path("approve_group", api.approve_group, name="api-approve-group"),
    path("download", api.download, name="api-download"),
]
