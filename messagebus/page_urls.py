from __future__ import annotations

from django.urls import path

from messagebus import views

# Under /ui/.
urlpatterns = [
    path("projects/<str:project_id>/messages/", views.project_bus, name="project-messages"),
    path(
        "projects/<str:project_id>/messages/newest/",
        views.newest_message,
        name="messages-newest",
    ),
    path("projects/<str:project_id>/messages/page/", views.bus_page, name="messages-page"),
    path(
        "projects/<str:project_id>/tasks/<str:task_id>/messages/page/",
        views.bus_page,
        name="task-messages-page",
    ),
]
