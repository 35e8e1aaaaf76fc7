from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from runs.api import RunDetailApi, RunInfoApi, RunListApi, RunStopApi, ServerStatusApi
from runs.attempt_api import AttemptViewSet

attempts = SimpleRouter(trailing_slash=False)
attempts.register("attempts", AttemptViewSet, basename="attempt")

# Under /api/v1/.
urlpatterns = [
    path("runs", RunListApi.as_view()),
    path("runs/<str:run_id>", RunDetailApi.as_view()),
    path("runs/<str:run_id>/info", RunInfoApi.as_view()),
    path("runs/<str:run_id>/stop", RunStopApi.as_view()),
    path("status", ServerStatusApi.as_view()),
    *attempts.urls,
]
