from __future__ import annotations

from django.urls import path

from tasks.consumers import BoardConsumer

websocket_urlpatterns = [
    path("ws/projects/<str:project_id>/board/", BoardConsumer.as_asgi()),
]
