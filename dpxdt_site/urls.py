from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from releases.urls import api_urlpatterns

urlpatterns = [
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include(api_urlpatterns)),
    path("admin/", admin.site.urls),
    path("", include("releases.urls")),
]
