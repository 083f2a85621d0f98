from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from capture import api as capture_api
from releases.urls import api_urlpatterns

urlpatterns = [
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/request_run", capture_api.request_run, name="api-request-run"),
    path("api/", include(api_urlpatterns)),
    path("admin/", admin.site.urls),
    path("login", auth_views.LoginView.as_view(template_name="releases/login.html"), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("oauth/", include("social_django.urls", namespace="social")),
    path("", include("releases.urls")),
]
