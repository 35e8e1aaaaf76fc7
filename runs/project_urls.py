from __future__ import annotations

from django.urls import path

from runs.project_api import (
    ProjectGcApi,
    ProjectRunApi,
    ProjectRunsFlatApi,
    ProjectRunStopApi,
    RunFileApi,
)

RUN = "<str:project_id>/tasks/<str:task_id>/runs/<str:run_id>"

# Under /api/projects/: a project's runs.
urlpatterns = [
    path("<str:project_id>/gc", ProjectGcApi.as_view()),
    path("<str:project_id>/runs/flat", ProjectRunsFlatApi.as_view()),
    path(RUN, ProjectRunApi.as_view()),
    path(f"{RUN}/file", RunFileApi.as_view()),
    path(f"{RUN}/stop", ProjectRunStopApi.as_view()),
]
