from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from conductor_site.api import HealthApi, VersionApi, conductor_version
from conductor_site.metrics import metrics_view
from conductor_site.views import ui_home

handler400 = "conductor_site.errors.json_400"
handler403 = "conductor_site.errors.json_403"
handler404 = "conductor_site.errors.json_404"
handler500 = "conductor_site.errors.json_500"

urlpatterns = [
    path("api/v1/health", HealthApi.as_view()),
    path("api/v1/version", VersionApi.as_view()),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(custom_settings={"VERSION": conductor_version()}),
        name="schema",
    ),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/", include("messagebus.stream_urls")),
    path("api/", include("messagebus.urls")),
    path("api/v1/", include("tasks.urls")),
    path("api/v1/", include("runs.urls")),
    path("api/projects", include("projects.urls")),
    path("api/projects/", include("tasks.project_urls")),
    path("api/projects/", include("runs.project_urls")),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
    path("ui/", ui_home, name="ui"),
    path("ui", RedirectView.as_view(url="/ui/")),
    path("", RedirectView.as_view(url="/ui/")),
]
