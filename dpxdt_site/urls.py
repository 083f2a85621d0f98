from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
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
