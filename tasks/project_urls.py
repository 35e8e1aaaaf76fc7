from __future__ import annotations

from django.urls import path

from tasks.project_api import (
    ProjectTaskApi,
    ProjectTasksApi,
    TaskFileApi,
    TaskResumeApi,
    TaskRunsApi,
)

TASK = "<str:project_id>/tasks/<str:task_id>"

# Under /api/projects/: a project's tasks.
urlpatterns = [
    path("<str:project_id>/tasks", ProjectTasksApi.as_view()),
    path(TASK, ProjectTaskApi.as_view()),
    path(f"{TASK}/file", TaskFileApi.as_view()),
    path(f"{TASK}/resume", TaskResumeApi.as_view()),
    path(f"{TASK}/runs", TaskRunsApi.as_view()),
]
