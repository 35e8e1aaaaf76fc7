from __future__ import annotations

from django.urls import include, path

from projects.api import HomeDirsApi, ProjectApi, ProjectsApi, ProjectStatsApi
from runs.project_api import (
    ProjectGcApi,
    ProjectRunApi,
    ProjectRunsFlatApi,
    ProjectRunStopApi,
    RunFileApi,
)
from tasks.project_api import (
    ProjectTaskApi,
    ProjectTasksApi,
    TaskFileApi,
    TaskResumeApi,
    TaskRunsApi,
)

TASK = "<str:project_id>/tasks/<str:task_id>"
RUN = f"{TASK}/runs/<str:run_id>"

# After /api/projects/. The project's own routes are in projects.api, its tasks' in
# tasks.project_api, its runs' in runs.project_api; the message bus and SSE routes under the
# same prefix live in messagebus (included first, under /api/).
project_patterns = [
    path("home-dirs", HomeDirsApi.as_view()),
    path("<str:project_id>", ProjectApi.as_view()),
    path("<str:project_id>/stats", ProjectStatsApi.as_view()),
    path("<str:project_id>/gc", ProjectGcApi.as_view()),
    path("<str:project_id>/runs/flat", ProjectRunsFlatApi.as_view()),
    path("<str:project_id>/tasks", ProjectTasksApi.as_view()),
    path(TASK, ProjectTaskApi.as_view()),
    path(f"{TASK}/file", TaskFileApi.as_view()),
    path(f"{TASK}/resume", TaskResumeApi.as_view()),
    path(f"{TASK}/runs", TaskRunsApi.as_view()),
    path(RUN, ProjectRunApi.as_view()),
    path(f"{RUN}/file", RunFileApi.as_view()),
    path(f"{RUN}/stop", ProjectRunStopApi.as_view()),
]

# Under /api/projects (no trailing slash: `POST /api/projects` is the list's own path).
urlpatterns = [
    path("", ProjectsApi.as_view()),
    path("/", include(project_patterns)),
]
