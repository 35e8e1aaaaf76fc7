from __future__ import annotations

from django.urls import path

from runs import views

# Under /ui/: the Now and Agents pages, an attempt's page and its review page.
urlpatterns = [
    path("now/", views.now, name="now"),
    path("now/live/", views.now_live, name="now-live"),
    path("runs/<str:run_id>/stop/", views.run_stop_view, name="run-stop"),
    path("runs/<str:run_id>/lines/", views.run_log_lines, name="run-lines"),
    path("runs/<str:run_id>/log/<str:stream>/", views.run_log_download, name="run-log"),
    path("attempts/<str:attempt_id>/", views.attempt_detail, name="attempt"),
    path("attempts/<str:attempt_id>/stop/", views.attempt_stop_view, name="attempt-stop"),
    path("agents/", views.agent_list, name="agent-list"),
    path("agents/new/", views.agent_edit, name="agent-new"),
    path("agents/test/", views.agent_trial_view, name="agent-test"),
    path("agents/<str:name>/edit/", views.agent_edit, name="agent-edit"),
    path("attempts/<str:attempt_id>/review/", views.attempt_review, name="attempt-review"),
]
