from __future__ import annotations

from django.urls import path

from tasks import views

# Under /ui/: the board, the task page, and what the attempt page posts.
urlpatterns = [
    path("projects/<str:project_id>/", views.board, name="board"),
    path(
        "projects/<str:project_id>/columns/<str:column>/",
        views.board_column,
        name="board-column",
    ),
    path("projects/<str:project_id>/tasks/new/", views.task_new, name="task-new"),
    path("projects/<str:project_id>/tasks/<str:task_id>/", views.task_detail, name="task"),
    path(
        "projects/<str:project_id>/tasks/<str:task_id>/attempts/new/",
        views.attempt_new,
        name="attempt-new",
    ),
    path(
        "attempts/<str:attempt_id>/follow-up/",
        views.attempt_follow_up_view,
        name="attempt-follow-up",
    ),
    path("attempts/<str:attempt_id>/draft/", views.attempt_draft_view, name="attempt-draft"),
    path(
        "projects/<str:project_id>/tasks/<str:task_id>/move/",
        views.task_move_view,
        name="task-move",
    ),
]
