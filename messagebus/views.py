"""What the dashboard's pages read of the buses: where a project's bus is now, so the
notifications (`static/ui/notify.js`) follow its questions from there and do not announce
again the ones asked before the page opened."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from conductor_site.errors import error_json
from conductor_site.ids import is_identifier
from messagebus.selectors import newest_msg_id
from projects.models import Project


@require_safe
def newest_message(request: HttpRequest, project_id: str) -> JsonResponse:
    """`{"msg_id": …}`, the newest message of the project's buses (`""`: none yet), the
    `after` of `/ws/projects/<p>/messages/`."""
    if not is_identifier(project_id):
        return error_json(400, f"invalid project id {project_id!r}")
    if not Project.objects.filter(id=project_id).exists():
        return error_json(404, f"project {project_id!r} not found")
    return JsonResponse({"msg_id": newest_msg_id(project_id)})
