from pathlib import Path

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.cache import cache_control
from drf_spectacular.views import SpectacularAPIView

import common

FAVICON = Path(common.__file__).parent / "static" / "depicted" / "favicon.png"


@cache_control(max_age=86400, public=True)
def favicon(request):
    """What browsers ask for at /favicon.ico on every page that names no icon (the API's, the
    admin's): the site's icon, not a 404 in the log."""
    return HttpResponse(FAVICON.read_bytes(), content_type="image/png")


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    # The API (dpxdt's /api/*, the same names and fields): each app's part, and its schema.
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include("releases.api_urls")),
    path("api/", include("capture.api_urls")),
    path("admin/", admin.site.urls),
    path("login", auth_views.LoginView.as_view(template_name="releases/login.html"), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("oauth/", include("social_django.urls", namespace="social")),
    path("", include("releases.urls")),
]
