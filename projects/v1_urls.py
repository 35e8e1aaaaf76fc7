from __future__ import annotations

from rest_framework.routers import SimpleRouter

from projects.api import FilesystemViewSet, ProjectViewSet

# Under /api/v1/ (house style); the Conductor Loop project routes are `projects.urls`.
router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("projects", ProjectViewSet, basename="v1-project")

# `/api/v1/filesystem/...`, mounted for the dashboard's session too (the project form's
# folder picker, `static/ui/folder_picker.js`).
filesystem = SimpleRouter(trailing_slash=False, use_regex_path=False)
filesystem.register("filesystem", FilesystemViewSet, basename="filesystem")

urlpatterns = [*router.urls, *filesystem.urls]
