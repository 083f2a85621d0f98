from django.urls import path

from . import owner_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("new", views.new_build, name="new_build"),
    path("build", views.build, name="build"),
    path("release", views.release, name="release"),
    path("release/mark", views.mark_release, name="mark_release"),
    path("release/pin", views.pin_release, name="pin_release"),
    path("release/approve_all", views.approve_all, name="approve_all"),
    path("release/approve_group", views.approve_group, name="approve_group"),
    path("release/retry", views.retry_runs, name="retry_runs"),
    path("release/cancel", views.cancel_release, name="cancel_release"),
    path("run", views.run, name="run"),
    path("run/review", views.review_run, name="review_run"),
    path("settings", owner_views.build_settings, name="settings"),
    path("api_keys", owner_views.api_keys, name="api_keys"),
    path("api_keys/revoke", owner_views.revoke_api_key, name="revoke_api_key"),
    path("admins", owner_views.owners, name="owners"),
    path("admins/remove", owner_views.remove_owner, name="remove_owner"),
    path("activity", owner_views.activity, name="activity"),
]
