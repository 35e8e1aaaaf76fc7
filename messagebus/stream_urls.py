from __future__ import annotations

from django.urls import path

from messagebus import streams

# SSE streams, under /api/ (paths spell out v1/ or projects/). Included before the other
# /api/ routes, so `runs/stream` is never taken for a run id.
urlpatterns = [
    path("v1/runs/stream/all", streams.all_runs_stream),
    path("v1/runs/<str:run_id>/stream", streams.run_log_stream),
    path("v1/messages/stream", streams.messages_stream),
    path("projects/<str:project_id>/messages/stream", streams.project_messages_stream),
    path(
        "projects/<str:project_id>/tasks/<str:task_id>/messages/stream",
        streams.task_messages_stream,
    ),
    path("projects/<str:project_id>/tasks/<str:task_id>/runs/stream", streams.task_runs_stream),
    path(
        "projects/<str:project_id>/tasks/<str:task_id>/runs/<str:run_id>/stream",
        streams.run_file_stream,
    ),
]
