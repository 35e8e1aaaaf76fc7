from __future__ import annotations

from django.urls import path

from tasks.api import SelfUpdateApi, TaskCreateApi, TaskDetailApi, TaskMoveApi

# Under /api/v1/.
urlpatterns = [
    path("tasks", TaskCreateApi.as_view()),
    path("tasks/<str:task_id>", TaskDetailApi.as_view()),
    path("tasks/<str:task_id>/move", TaskMoveApi.as_view()),
    path("admin/self-update", SelfUpdateApi.as_view()),
]
