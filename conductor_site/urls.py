from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from conductor_site.api import HealthApi, VersionApi, conductor_version
from conductor_site.auth import session_api_urls
from conductor_site.live.api import EventViewSet, WsTicketApi
from conductor_site.metrics import metrics_view
from conductor_site.views import SignInView, SignOutView, first_run
from messagebus.urls import session_urlpatterns as bus_session_urls
from projects.v1_urls import filesystem
from tasks.urls import attempts, tags

handler400 = "conductor_site.errors.json_400"
handler403 = "conductor_site.errors.json_403"
handler404 = "conductor_site.errors.json_404"
handler500 = "conductor_site.errors.json_500"

router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("events", EventViewSet, basename="event")

urlpatterns = [
    path("api/v1/health", HealthApi.as_view()),
    path("api/v1/version", VersionApi.as_view()),
    path("api/v1/ws-tickets", WsTicketApi.as_view()),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(custom_settings={"VERSION": conductor_version()}),
        name="schema",
    ),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/", include("runs.stream_urls")),
    path("api/", include("messagebus.stream_urls")),
    path("api/", include("messagebus.urls")),
    path("api/v1/", include(router.urls)),
    path("api/v1/", include("tasks.urls")),
    path("api/v1/", include("runs.urls")),
    path("api/v1/", include("projects.v1_urls")),
    path("api/projects", include("projects.urls")),
    path("api/projects/", include("tasks.project_urls")),
    path("api/projects/", include("runs.project_urls")),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
    # The dashboard: sign-in here, each app's pages in its own `page_urls`.
    path("ui/sign-in/", SignInView.as_view(), name="sign-in"),
    path("ui/sign-out/", SignOutView.as_view(), name="sign-out"),
    path("ui/first-run/", first_run, name="first-run"),
    # The attempts resource again, for the review page's JavaScript: the signed-in session and
    # CSRF instead of the API key (`conductor_site.auth.session_api_urls`).
    path("ui/api/v1/", include(session_api_urls(attempts.urls))),
    # The tags, for the task form's `@tag` completion (`static/ui/task_form.js`).
    path("ui/api/v1/", include(session_api_urls(tags.urls))),
    # Folders and repositories, for the project form's folder picker.
    path("ui/api/v1/", include(session_api_urls(filesystem.urls))),
    # The message bus, for the threads' post and answer boxes (`static/ui/bus.js`).
    path("ui/api/v1/", include(session_api_urls(bus_session_urls))),
    path("ui/", include("projects.page_urls")),
    path("ui/", include("tasks.page_urls")),
    path("ui/", include("runs.page_urls")),
    path("ui/", include("messagebus.page_urls")),
    path("ui", RedirectView.as_view(url="/ui/")),
    path("", RedirectView.as_view(url="/ui/")),
]
