from django.urls import path

from . import api, views

api_urlpatterns = [
    path("create_release", api.create_release, name="api-create-release"),
    path("find_run", api.find_run, name="api-find-run"),
    path("upload", api.upload, name="api-upload"),
    path("report_run", api.report_run, name="api-report-run"),
    path("runs_done", api.runs_done, name="api-runs-done"),
    path("release_status", api.release_status, name="api-release-status"),
    path("mark_release", api.mark_release, name="api-mark-release"),
    path("download", api.download, name="api-download"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("release", views.release, name="release"),
]
