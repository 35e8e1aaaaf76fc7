from __future__ import annotations

from django.urls import path

from messagebus import views

# Under /ui/.
urlpatterns = [
    path(
        "projects/<str:project_id>/messages/newest/",
        views.newest_message,
        name="messages-newest",
    ),
]
