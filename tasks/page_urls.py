from __future__ import annotations

from django.urls import path

from tasks import views

# Under /ui/: the board and the task page.
urlpatterns = [
    path("projects/<str:project_id>/", views.board, name="board"),
    path(
        "projects/<str:project_id>/columns/<str:column>/",
        views.board_column,
        name="board-column",
    ),
    path("projects/<str:project_id>/stats/", views.board_stats, name="board-stats"),
    path("projects/<str:project_id>/tasks/new/", views.task_new, name="task-new"),
    path("projects/<str:project_id>/tasks/<str:task_id>/", views.task_detail, name="task"),
    path(
        "projects/<str:project_id>/tasks/<str:task_id>/attempts/new/",
        views.attempt_new,
        name="attempt-new",
    ),
    path(
        "projects/<str:project_id>/tasks/<str:task_id>/move/",
        views.task_move_view,
        name="task-move",
    ),
]
