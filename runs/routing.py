from __future__ import annotations

from django.urls import path

from runs.consumers import AttemptDiffConsumer, RunEntriesConsumer, RunLogConsumer

websocket_urlpatterns = [
    path("ws/runs/<str:run_id>/logs/", RunLogConsumer.as_asgi()),
    path("ws/runs/<str:run_id>/entries/", RunEntriesConsumer.as_asgi()),
    path("ws/attempts/<str:attempt_id>/diff/", AttemptDiffConsumer.as_asgi()),
]
