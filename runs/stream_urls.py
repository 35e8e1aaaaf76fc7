from __future__ import annotations

from django.urls import path

from runs.streams import all_runs, run_files, run_log, task_runs

# The run streams (SSE), under /api/ (paths spell out v1/ or projects/). Included before the
# other /api/ routes, so `runs/stream` is never taken for a run id.
urlpatterns = [
    path("v1/runs/stream/all", all_runs.all_runs_stream),
    path("v1/runs/<str:run_id>/stream", run_log.run_log_stream),
    path("projects/<str:project_id>/tasks/<str:task_id>/runs/stream", task_runs.task_runs_stream),
    path(
        "projects/<str:project_id>/tasks/<str:task_id>/runs/<str:run_id>/stream",
        run_files.run_file_stream,
    ),
]
