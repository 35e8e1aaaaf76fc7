from __future__ import annotations

from django.urls import path

from messagebus.consumers import BusConsumer

websocket_urlpatterns = [
    path("ws/projects/<str:project_id>/messages/", BusConsumer.as_asgi()),
    path("ws/projects/<str:project_id>/tasks/<str:task_id>/messages/", BusConsumer.as_asgi()),
]
