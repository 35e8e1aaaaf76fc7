from __future__ import annotations

from django.urls import path

from runs.api import (
    RunDetailApi,
    RunEntriesApi,
    RunInfoApi,
    RunListApi,
    RunStopApi,
    ServerStatusApi,
)

# Under /api/v1/.
urlpatterns = [
    path("runs", RunListApi.as_view()),
    path("runs/<str:run_id>", RunDetailApi.as_view()),
    path("runs/<str:run_id>/info", RunInfoApi.as_view()),
    path("runs/<str:run_id>/entries", RunEntriesApi.as_view()),
    path("runs/<str:run_id>/stop", RunStopApi.as_view()),
    path("status", ServerStatusApi.as_view()),
]
