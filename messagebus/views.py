"""What the dashboard's pages read of the buses: where a project's bus is now, so the
notifications (`static/ui/notify.js`) follow its questions from there and do not announce
again the ones asked before the page opened; the project's bus page; and the pages of a bus
that the threads on the task and project pages show (`static/ui/bus.js`), newest first, which
then follow the bus's WebSocket from the newest message they read and post through
`/ui/api/v1/messages` (`POST /api/v1/messages` for the session, CSRF checked)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from conductor_site.errors import error_json
from conductor_site.ids import is_identifier
from messagebus.selectors import (
    BusNotFound,
    UnknownCursor,
    message_to_api,
    messages_before,
    newest_msg_id,
    open_question_ids,
)
from projects.models import Project

BUS_PAGE = 50  # the messages a page shows at first, and each "Show earlier" adds
BUS_PAGE_MAX = 200


@require_safe
def newest_message(request: HttpRequest, project_id: str) -> JsonResponse:
    """`{"msg_id": …}`, the newest message of the project's buses (`""`: none yet), the
    `after` of `/ws/projects/<p>/messages/`."""
    if not is_identifier(project_id):
        return error_json(400, f"invalid project id {project_id!r}")
    if not Project.objects.filter(id=project_id).exists():
        return error_json(404, f"project {project_id!r} not found")
    return JsonResponse({"msg_id": newest_msg_id(project_id)})


@require_safe
def project_bus(request: HttpRequest, project_id: str) -> HttpResponse:
    """The project's bus (its own messages and its tasks' merged) as threads, linked from
    the board."""
    project = get_object_or_404(Project, id=project_id)
    context = {"section": "projects", "project": project}
    return render(request, "messagebus/project_bus.html", context)


@require_safe
def bus_page(request: HttpRequest, project_id: str, task_id: str | None = None) -> JsonResponse:
    """`?before=<msg_id>&limit=N`: `{"messages": [...], "earlier": bool, "open_questions":
    [msg_id, ...]}`, the last N messages of the bus before `before` (none: the newest),
    oldest first; `open_questions` the listed questions not answered yet."""
    before = request.GET.get("before") or None
    limit = request.GET.get("limit", str(BUS_PAGE))
    for value in (project_id, task_id, before):
        if value is not None and not is_identifier(value):
            return error_json(400, f"invalid project id, task id or cursor {value!r}")
    if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= BUS_PAGE_MAX):
        return error_json(400, f"limit must be a whole number from 1 to {BUS_PAGE_MAX}")
    try:
        page, earlier = messages_before(
            project_id=project_id, task_id=task_id, before=before, limit=int(limit)
        )
    except UnknownCursor as exc:
        return error_json(404, str(exc), msg_id=exc.msg_id)
    except BusNotFound as exc:
        return error_json(404, str(exc))
    return JsonResponse(
        {
            "messages": [message_to_api(message) for message in page],
            "earlier": earlier,
            "open_questions": open_question_ids(page),
        }
    )
