"""The capture app's part of /api/: request_run; dpxdt_site/urls.py mounts every app's."""

from django.urls import path

from . import api

urlpatterns = [
    path("request_run", api.request_run, name="api-request-run"),
]
