"""The board: a project's tasks in Kanban columns, moved by drag and drop, made by a form;
the task page: a task's attempts and their runs as a timeline, and a new attempt.

Each column shows a page of cards and fetches the next one when asked (htmx), so a project
with 10,000 tasks renders as fast as one with fifty. A move posts to `task_move_view`, which
calls `tasks.services.task_move`, as `POST /api/v1/tasks/<t>/move` does. The attempt page's
follow-up and draft are the attempts API itself, mounted for the session under /ui/api/v1/
(`conductor_site.auth.session_api_urls`).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from conductor_site.errors import DomainError, error_json
from conductor_site.params import QUERY_INT_MAX
from projects.models import Project
from projects.selectors import project_stats
from runs.agents import UnknownAgent
from runs.models import Run
from tasks import selectors, services
from tasks.forms import AttemptStartForm, TaskCreateForm
from tasks.models import Task

COLUMN_PAGE = 50
COLUMN_LABELS = {
    Task.Column.TODO: "To do",
    Task.Column.IN_PROGRESS: "In progress",
    Task.Column.IN_REVIEW: "In review",
    Task.Column.DONE: "Done",
    Task.Column.CANCELLED: "Cancelled",
}


@require_safe
def board(request: HttpRequest, project_id: str) -> HttpResponse:
    project = get_object_or_404(Project, id=project_id)
    counts = selectors.column_counts(project)
    columns = [
        {
            "value": value,
            "label": label,
            "count": counts[value],
            **_column_page(project, value, 0),
        }
        for value, label in COLUMN_LABELS.items()
    ]
    context = {
        "section": "projects",
        "project": project,
        "columns": columns,
        "stats": project_stats(project),
        "form": TaskCreateForm(project=project),
    }
    return render(request, "tasks/board.html", context)


@require_safe
def board_column(request: HttpRequest, project_id: str, column: str) -> HttpResponse:
    """The next page of a column's cards (htmx swaps it in place of the "more" button)."""
    project = get_object_or_404(Project, id=project_id)
    if column not in Task.Column.values:
        raise Http404(f"no column {column!r}")
    raw = request.GET.get("offset", "0")
    if not (raw.isascii() and raw.isdigit()) or int(raw) > QUERY_INT_MAX:
        return error_json(400, f"offset must be a whole number from 0 to {QUERY_INT_MAX}")
    page = _column_page(project, column, int(raw))
    context = {"project": project, "column": {"value": column, **page}}
    return render(request, "tasks/cards.html", context)


def _column_page(project: Project, column: str, offset: int) -> dict[str, object]:
    cards = selectors.board_column(project, column, limit=COLUMN_PAGE + 1, offset=offset)
    more = len(cards) > COLUMN_PAGE
    return {"cards": cards[:COLUMN_PAGE], "next_offset": offset + COLUMN_PAGE if more else None}


@require_POST
def task_new(request: HttpRequest, project_id: str) -> HttpResponse:
    """The board's form: "Create and start" (`task_submit`) or "Save for later"
    (`task_save`). Posted by htmx it answers with the form alone, errors next to the fields
    and every value (the chosen images too) kept; without JavaScript, with the form's page."""
    project = get_object_or_404(Project, id=project_id)
    form = TaskCreateForm(request.POST, request.FILES, project=project)
    if form.is_valid() and (
        message := _task_made(form, later=request.POST.get("start") == "later")
    ):
        messages.success(request, message)
        if not request.headers.get("HX-Request"):
            return redirect("board", project_id=project.id)
        response = HttpResponse()
        response["HX-Redirect"] = reverse("board", args=[project.id])
        return response
    template = (
        "tasks/task_form.html" if request.headers.get("HX-Request") else "tasks/task_new.html"
    )
    return render(request, template, {"section": "projects", "project": project, "form": form})


def _task_made(form: TaskCreateForm, *, later: bool) -> str | None:
    """What was done, for the board's notice; None with the refusal added to the form."""
    if not later and settings.CONDUCTOR["DISABLE_TASK_START"]:
        form.add_error(None, "task execution is disabled on this server (--disable-task-start)")
        return None
    try:
        if later:
            task = services.task_save(project=form.project, **form.common())
            return f"Task {task.task_id} saved for later."
        started = services.task_submit(**form.submission())
    except (UnknownAgent, ValueError, services.TaskConflict, DomainError, OSError) as exc:
        form.add_error(None, str(exc))
        return None
    state = f"queued ({started.queue_position})" if started.queued else "started"
    return f"Task {started.task.task_id} {state}."


@require_POST
def task_move_view(request: HttpRequest, project_id: str, task_id: str) -> HttpResponse:
    """A drop on the board: `column`, and the task ids of the cards now above (`after`) and
    below (`before`) it. 204 once stored; a 400 or 404 in the error shape otherwise."""
    task = get_object_or_404(Task, project_id=project_id, task_id=task_id)
    post = request.POST
    try:
        services.task_move(
            task, post.get("column", ""), after=post.get("after", ""), before=post.get("before", "")
        )
    except services.TaskMoveRefused as exc:
        return error_json(400, exc.message)
    return HttpResponse(status=204)


@require_safe
def task_detail(request: HttpRequest, project_id: str, task_id: str) -> HttpResponse:
    task = get_object_or_404(
        Task.objects.select_related("project"), project_id=project_id, task_id=task_id
    )
    form = AttemptStartForm(project=task.project, initial={"agent": task.agent_type})
    return _task_page(request, task, form)


def _task_page(request: HttpRequest, task: Task, form: AttemptStartForm) -> HttpResponse:
    """Newest attempt first, each with its runs in the order they ran."""
    attempts = task.attempts.order_by("-created_at", "-id").prefetch_related(
        Prefetch("runs", queryset=Run.objects.defer("prompt").order_by("created_at", "id"))
    )
    context = {
        "section": "projects",
        "task": task,
        "project": task.project,
        "column_label": COLUMN_LABELS.get(Task.Column(task.column), task.column),
        "attempts": attempts,
        "form": form,
    }
    return render(request, "tasks/task.html", context)


@require_POST
def attempt_new(request: HttpRequest, project_id: str, task_id: str) -> HttpResponse:
    """A new attempt from the task page; on to its attempt page once made."""
    task = get_object_or_404(
        Task.objects.select_related("project"), project_id=project_id, task_id=task_id
    )
    form = AttemptStartForm(request.POST, project=task.project)
    if settings.CONDUCTOR["DISABLE_TASK_START"]:
        form.add_error(None, "task execution is disabled on this server (--disable-task-start)")
    elif form.is_valid():
        try:
            started = services.attempt_submit(
                task,
                agent=form.cleaned_data["agent"],
                prompt=task.prompt,
                base_branch=form.cleaned_data["base_branch"],
            )
        except (UnknownAgent, ValueError, services.TaskConflict, OSError) as exc:
            form.add_error(None, str(exc))
        else:
            state = f"queued ({started.queue_position})" if started.queued else "started"
            messages.success(request, f"Attempt {started.run.attempt_id} {state}.")
            return redirect("attempt", attempt_id=started.run.attempt_id)
    return _task_page(request, task, form)
