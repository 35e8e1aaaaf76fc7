"""The board: a project's tasks in Kanban columns, moved by drag and drop, made by a form;
the task page: a task's attempts and their runs as a timeline, and a new attempt.

Each column shows a page of cards and fetches the next one when asked (htmx), so a project
with 10,000 tasks renders as fast as one with fifty; its search and filters (`q`, `agent`,
`status`) are the page's query, applied by `selectors.BoardFilter` to every column and count.
The page follows the board stream (`static/ui/board_live.js`) from the event id it was read at
and reads a changed column again through `board_column`, and its stats bar through
`board_stats`. A move posts to `task_move_view`, which
calls `tasks.services.task_move`, as `POST /api/v1/tasks/<t>/move` does. The attempt page's
follow-up and draft are the attempts API itself, mounted for the session under /ui/api/v1/
(`conductor_site.auth.session_api_urls`).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST, require_safe

from conductor_site.errors import DomainError, error_json
from conductor_site.ids import is_identifier
from conductor_site.live.history import newest_id
from conductor_site.params import QUERY_INT_MAX
from projects.models import Project
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


SEARCH_MAX = 200
COLUMN_LIMIT_MAX = 500


@require_safe
def board(request: HttpRequest, project_id: str) -> HttpResponse:
    """The board as it is now, and the event id it was read at: the page follows the board
    stream from there (the cursor is read first, so a change while the page is made is seen
    twice, never missed)."""
    project = get_object_or_404(Project, id=project_id)
    cursor = newest_id()
    try:
        filters = _board_filter(request)
    except BadQuery as exc:
        return error_json(400, exc.message, **exc.details)
    # With a computed status filter each column counts what it computed.
    counts = {} if filters.computed else selectors.column_counts(project, filters)
    columns = []
    for value, label in COLUMN_LABELS.items():
        page = _column_page(project, value, 0, COLUMN_PAGE, filters, counts.get(value))
        columns.append({"value": value, "label": label, **page})
    context = {
        "section": "projects",
        "project": project,
        "columns": columns,
        # Unfiltered, the columns' counts are the stats bar's too.
        "stats": selectors.board_stats(
            project, counts if filters == selectors.BoardFilter() else None
        ),
        "form": TaskCreateForm(project=project),
        "cursor": cursor,
        "filters": filters,
        "filter_query": _filter_query(filters),
        "statuses": [(value, value.replace("-", " ")) for value in selectors.BOARD_STATUSES],
        "agents": _agents_of(project),
    }
    return render(request, "tasks/board.html", context)


@require_safe
def board_column(request: HttpRequest, project_id: str, column: str) -> HttpResponse:
    """A page of a column's cards: the next one (htmx swaps it in place of the "more" button),
    or the first `limit` again when the board stream says the column changed. The column's
    count (with the filters) is in the `X-Column-Count` header."""
    project = get_object_or_404(Project, id=project_id)
    if column not in Task.Column.values:
        raise Http404(f"no column {column!r}")
    try:
        filters = _board_filter(request)
        offset = _whole_number(request, "offset", "0", QUERY_INT_MAX)
        limit = _whole_number(request, "limit", str(COLUMN_PAGE), COLUMN_LIMIT_MAX)
    except BadQuery as exc:
        return error_json(400, exc.message, **exc.details)
    page = _column_page(project, column, offset, max(limit, 1), filters)
    context = {
        "project": project,
        "column": {"value": column, **page},
        "filter_query": _filter_query(filters),
    }
    response = render(request, "tasks/cards.html", context)
    response["X-Column-Count"] = str(page["count"])
    return response


@require_safe
def board_stats(request: HttpRequest, project_id: str) -> HttpResponse:
    """The board's stats bar alone (`tasks/stats.html`), read again by the live board when
    a task, attempt or run of the project changes."""
    project = get_object_or_404(Project, id=project_id)
    context = {"project": project, "stats": selectors.board_stats(project)}
    return render(request, "tasks/stats.html", context)


def _column_page(
    project: Project,
    column: str,
    offset: int,
    limit: int,
    filters: selectors.BoardFilter,
    count: int | None = None,
) -> dict[str, Any]:
    """A page of cards and the column's count: the one `board_column` computed with a
    computed status filter, else `count` (the board's counts) or one count query."""
    cards, total = selectors.board_column(
        project, column, limit=limit + 1, offset=offset, filters=filters
    )
    more = len(cards) > limit
    if total is None:
        total = count if count is not None else filters.tasks(project).filter(column=column).count()
    return {"cards": cards[:limit], "next_offset": offset + limit if more else None, "count": total}


class BadQuery(DomainError):
    """A query parameter of a board page the client must fix (a 400)."""


def _whole_number(request: HttpRequest, name: str, default: str, top: int) -> int:
    raw = request.GET.get(name, default)
    if not (raw.isascii() and raw.isdigit()) or int(raw) > top:
        raise BadQuery(f"{name} must be a whole number from 0 to {top}")
    return int(raw)


def _board_filter(request: HttpRequest) -> selectors.BoardFilter:
    """`q`, `agent` and `status` of the board's query, checked."""
    text = request.GET.get("q", "").strip()
    agent = request.GET.get("agent", "")
    status = request.GET.get("status", "")
    if len(text) > SEARCH_MAX:
        raise BadQuery(f"q must be at most {SEARCH_MAX} characters")
    if agent and not is_identifier(agent):
        raise BadQuery(f"invalid agent {agent!r}")
    if status and status not in selectors.BOARD_STATUSES:
        known = ", ".join(selectors.BOARD_STATUSES)
        raise BadQuery(f"status must be one of {known}", status=status)
    return selectors.BoardFilter(text=text, agent=agent, status=status)


def _filter_query(filters: selectors.BoardFilter) -> str:
    """The filters as a query string to add after `?offset=…&` (empty when none is set)."""
    values = {"q": filters.text, "agent": filters.agent, "status": filters.status}
    return urlencode({name: value for name, value in values.items() if value})


def _agents_of(project: Project) -> list[str]:
    """The agents the project's tasks name, for the agent filter."""
    agents = Task.objects.filter(project=project).values_list("agent_type", flat=True)
    return sorted(set(agents.order_by().distinct()))


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
    try:
        if later:
            task = services.task_save(project=form.project, **form.common())
            return f"Task {task.task_id} saved for later."
        services.task_start_check()
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
    started = _attempt_started(task, form)
    if started is None:
        return _task_page(request, task, form)
    state = f"queued ({started.queue_position})" if started.queued else "started"
    messages.success(request, f"Attempt {started.run.attempt_id} {state}.")
    return redirect("attempt", attempt_id=started.run.attempt_id)


def _attempt_started(task: Task, form: AttemptStartForm) -> services.Started | None:
    """The attempt the form starts; None with the refusal added to the form."""
    try:
        services.task_start_check()
        if not form.is_valid():
            return None
        return services.attempt_submit(
            task,
            agent=form.cleaned_data["agent"],
            prompt=task.prompt,
            base_branch=form.cleaned_data["base_branch"],
        )
    except (
        UnknownAgent,
        ValueError,
        services.TaskConflict,
        services.StartsDisabled,
        OSError,
    ) as exc:
        form.add_error(None, str(exc))
        return None
