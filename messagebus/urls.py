from __future__ import annotations

from django.urls import path

from messagebus.api import MessagesApi, ProjectMessagesApi, TaskMessagesApi

# Message bus routes, under /api/ (paths spell out v1/ or projects/); SSE is in stream_urls.
urlpatterns = [
    path("v1/messages", MessagesApi.as_view()),
    path("projects/<str:project_id>/messages", ProjectMessagesApi.as_view()),
    path("projects/<str:project_id>/tasks/<str:task_id>/messages", TaskMessagesApi.as_view()),
]

# `/api/v1/messages` again, for the dashboard's threads to post and answer with the session
# (`conductor_site.auth.session_api_urls` mounts it under /ui/api/v1/).
session_urlpatterns = [path("messages", MessagesApi.as_view())]
