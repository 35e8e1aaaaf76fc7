from __future__ import annotations

from django.urls import path

from messagebus.streams import messages

# The bus streams (SSE), under /api/ (paths spell out v1/ or projects/).
urlpatterns = [
    path("v1/messages/stream", messages.messages_stream),
    path("projects/<str:project_id>/messages/stream", messages.project_messages_stream),
    path(
        "projects/<str:project_id>/tasks/<str:task_id>/messages/stream",
        messages.task_messages_stream,
    ),
]
