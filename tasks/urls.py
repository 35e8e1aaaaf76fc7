from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from tasks.api import SelfUpdateApi, TaskCreateApi, TaskDetailApi, TaskMoveApi
from tasks.attempt_api import AttemptsViewSet
from tasks.draft_api import DraftViewSet
from tasks.image_api import ImageViewSet
from tasks.tag_api import TagViewSet

# The house-style resources: DRF viewsets.
router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("images", ImageViewSet, basename="image")
router.register("drafts", DraftViewSet, basename="draft")

# `/api/v1/tags`, mounted for the dashboard's session too.
tags = SimpleRouter(trailing_slash=False, use_regex_path=False)
tags.register("tags", TagViewSet, basename="tag")

# `/api/v1/attempts`: runs' reads and stop, with the starts of tasks/attempt_api.py.
attempts = SimpleRouter(trailing_slash=False)
attempts.register("attempts", AttemptsViewSet, basename="attempt")

# Under /api/v1/.
urlpatterns = [
    path("tasks", TaskCreateApi.as_view()),
    path("tasks/<str:task_id>", TaskDetailApi.as_view()),
    path("tasks/<str:task_id>/move", TaskMoveApi.as_view()),
    path("admin/self-update", SelfUpdateApi.as_view()),
    *router.urls,
    *tags.urls,
    *attempts.urls,
]
