from __future__ import annotations

from django.urls import include, path

from projects.api import HomeDirsApi, ProjectApi, ProjectsApi, ProjectStatsApi

# After /api/projects/: the project's own routes. Its tasks' routes are in tasks.project_urls,
# its runs' in runs.project_urls, the message bus and SSE routes in messagebus (all included
# under the same prefix by conductor_site.urls; no two of them match the same path).
project_patterns = [
    path("home-dirs", HomeDirsApi.as_view()),
    path("<str:project_id>", ProjectApi.as_view()),
    path("<str:project_id>/stats", ProjectStatsApi.as_view()),
]

# Under /api/projects (no trailing slash: `POST /api/projects` is the list's own path).
urlpatterns = [
    path("", ProjectsApi.as_view()),
    path("/", include(project_patterns)),
]
