"""Reading tasks through the ORM: their Conductor Loop status, the task-list item, a task's
detail and runs in the project API, and the board's columns.

The detail routes read models (`task_status`, `queue_position`, `blocked_by`,
`last_activity`). The lists read values (`task_rows`, `run_rows_of`: times as UTC text,
whether the agent wrote `DONE` from `Task.done_at`), shaped by `row_admission`,
`activity_of` and `task_item`; both readings come to `tasks.status.status_of`. The board
reads its columns so; the two lists that must stay fast at 10,000 tasks (`/api/v1/tasks`,
a project's task page) read the same values by raw SQL in `tasks.list_sql`, shaped here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
)

from conductor_site.db_functions import json_value, utc_text
from projects.models import Project
from projects.selectors import agent_run_counts
from runs.models import ACTIVE_STATUSES, TERMINAL_STATUSES, Attempt, Run, RunStatus
from runs.selectors import (
    api_exit_code,
    files_by_run,
    rfc3339,
    run_rows,
    run_summary,
    ui_status,
)
from tasks import planner
from tasks.loop import loop_of
from tasks.models import OpenQuestion, Task
from tasks.planner import waiting_attempt
from tasks.status import status_of

Time = TypeVar("Time", datetime, str)


def agent_runs(task: Task, newest_first: bool = True) -> list[Run]:
    order = ("-created_at", "-id") if newest_first else ("created_at", "id")
    return list(
        Run.objects.filter(attempt__task=task, kind=Run.Kind.AGENT)
        .select_related("attempt__task")
        .order_by(*order)
    )


def task_rows(tasks: QuerySet[Task]) -> QuerySet[Task, Any]:
    """The tasks as the values the lists read, times as UTC text (`rfc3339` takes it)."""
    return tasks.values(
        "id",
        "project_id",
        "task_id",
        "thread_parent",
        dependencies=json_value("depends_on"),
        settings=json_value("config"),
        done=utc_text("done_at"),
        created=utc_text("created_at"),
        updated=utc_text("updated_at"),
    )


@dataclass
class RunRows:
    """The agent runs of some tasks as `runs.selectors.run_rows`, newest first, and the tasks
    that wait for the planner, as models for its questions."""

    by_task: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    waiting: dict[int, Task] = field(default_factory=dict)


def run_rows_of(task_pks: Iterable[int] | QuerySet[Task, Any]) -> RunRows:
    """`RunRows` of these tasks (pks, or a query of them) in one query, and one more when
    some wait: an attempt has its agent run from the start (`attempt_create`), so the runs
    tell which attempts wait for the planner."""
    found = RunRows()
    waits = Q(attempt__admitted_at__isnull=True, attempt__status=RunStatus.CREATED)
    runs = Run.objects.filter(attempt__task_id__in=task_pks, kind=Run.Kind.AGENT).order_by()
    waiting = set()
    for row in run_rows(runs).annotate(
        task_pk=F("attempt__task_id"), waits=ExpressionWrapper(waits, BooleanField())
    ):
        if row.pop("waits"):
            waiting.add(row["task_pk"])
        found.by_task[row["task_pk"]].append(row)
    # Sorted here, per task: no ORDER BY can tempt SQLite's planner away from the index that
    # finds just these tasks' runs.
    for task_runs in found.by_task.values():
        task_runs.sort(key=lambda row: (row["created"], row["id"]), reverse=True)
    if waiting:
        found.waiting = {task.pk: task for task in Task.objects.filter(pk__in=waiting)}
    return found


def is_done(task: Task) -> bool:
    """The agent wrote the `DONE` marker in its task folder (the Ralph loop's end), as the
    worker recorded it (`tasks.services.task_done_record`)."""
    return task.done_at is not None


def task_status(task: Task, runs: list[Run], waiting: bool | None = None) -> str:
    """`status_of` a task; `runs` are its agent runs, newest first; `waiting` says whether an
    attempt waits for the planner (None: look it up)."""
    statuses = [run.status for run in runs]
    if waiting is None:
        waiting = RunStatus.RUNNING not in statuses and waiting_attempt(task) is not None
    return status_of(
        statuses,
        waiting=waiting,
        blocked=lambda: bool(planner.dependencies(task).pending),
        looping=task.loop is not None,
        done=is_done(task),
    )


def task_status_of(task: Task) -> str:
    return task_status(task, agent_runs(task))


def queue_position(task: Task) -> int:
    """1..N while the task waits for a slot (oldest first), else 0."""
    return planner.queue_position(waiting_attempt(task))


def blocked_by(task: Task) -> list[str]:
    """The task ids of `depends_on` that have not completed, while the task waits on them."""
    if not task.depends_on or waiting_attempt(task) is None:
        return []
    return planner.dependencies(task).pending


def last_activity(task: Task, runs: list[Run]) -> str | None:
    return activity_of(task.updated_at, [(r.ended_at, r.started_at, r.created_at) for r in runs])


def activity_of(
    updated_at: Time, run_times: Iterable[tuple[Time | None, Time | None, Time]]
) -> str | None:
    """The task's last change or its runs' last event (ended, else started, else created).
    The times are datetimes, or the UTC text the lists read, which sorts the same way. A
    plain loop: most tasks have one run, and the whole list asks this of every task."""
    latest = updated_at
    for ended, started, created in run_times:
        event = ended or started or created
        if event > latest:
            latest = event
    return rfc3339(latest)


def row_activity(row: dict[str, Any], runs: list[dict[str, Any]]) -> str | None:
    return activity_of(row["updated"], [(r["ended"], r["started"], r["created"]) for r in runs])


def row_admission(
    statuses: list[str], *, settings: Any, done: bool, waiting: Task | None
) -> tuple[str, int, list[str]]:
    """Status, queue position and blockers of a task read as values (its agent runs'
    statuses, newest first, its `config`, whether it is done); `waiting` is its model when an
    attempt waits for the planner, the only case the planner is asked."""
    status = status_of(
        statuses,
        waiting=waiting is not None,
        blocked=lambda: waiting is not None and bool(planner.dependencies(waiting).pending),
        looping=loop_of(settings) is not None,
        done=done,
    )
    if waiting is None:
        return status, 0, []
    return status, queue_position(waiting), blocked_by(waiting)


# The task-list item (the board's cards, a project's task page) and the project API's task
# detail (`/api/projects/<p>/tasks/<t>...`).


def task_items(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The task-list shape of tasks read by `task_rows`, in three queries plus the planner's
    own for tasks that wait for admission."""
    runs = run_rows_of([row["id"] for row in rows])
    return [task_item(row, runs.by_task[row["id"]], runs.waiting.get(row["id"])) for row in rows]


def task_item(
    row: dict[str, Any], runs: list[dict[str, Any]], waiting: Task | None
) -> dict[str, Any]:
    """The task-list shape of a task read as `task_rows` reads it, with its agent runs as
    `run_rows_of` gives them (newest first) and its model when an attempt waits."""
    latest = runs[0] if runs else None
    status, position, blockers = row_admission(
        [run["status"] for run in runs],
        settings=row["settings"],
        done=row["done"] is not None,
        waiting=waiting,
    )
    return {
        "id": row["task_id"],
        "task_id": row["task_id"],
        "project_id": row["project_id"],
        "status": status,
        "last_activity": row_activity(row, runs),
        "created_at": rfc3339(row["created"]),
        "queue_position": position,
        "depends_on": row["dependencies"],
        "blocked_by": blockers,
        "thread_parent": row["thread_parent"] or None,
        "run_count": len(runs),
        "run_counts": _run_counts(runs),
        "done": row["done"] is not None,
        "last_run_status": ui_status(latest["status"]) if latest else None,
        "last_run_exit_code": _ended_exit_code(latest),
    }


def _run_counts(runs: list[dict[str, Any]]) -> dict[str, int]:
    """How many of the runs have each status, in the UI's words, in the order first seen (a
    loop: `Counter` costs more than the rest of an item)."""
    counts: dict[str, int] = {}
    for run in runs:
        status = ui_status(run["status"])
        counts[status] = counts.get(status, 0) + 1
    return counts


def _ended_exit_code(run: dict[str, Any] | None) -> int | None:
    """The exit code as the run shapes give it once the run ended (-1 when it ended without
    one, e.g. it never started); None while it has not ended."""
    if run is None or run["status"] not in TERMINAL_STATUSES:
        return None
    return api_exit_code(run["exit_code"])


def task_detail(task: Task) -> dict[str, Any]:
    """The task with its agent runs, oldest first (both real clients take the last)."""
    runs = agent_runs(task, newest_first=False)
    newest = runs[::-1]
    status = task_status(task, newest)
    files = files_by_run(runs)
    return {
        "id": task.task_id,
        "task_id": task.task_id,
        "project_id": task.project_id,
        "status": status,
        "state": status if status in ("running", "queued", "blocked") else "idle",
        "done": is_done(task),
        "depends_on": task.depends_on,
        "blocked_by": blocked_by(task),
        "thread_parent": task.thread_parent or None,
        "queue_position": queue_position(task),
        "last_activity": last_activity(task, newest),
        "created_at": rfc3339(task.created_at),
        "runs": [run_summary(run, files[run.id]) for run in runs],
        "attempt_ids": attempt_ids(task),
    }


def attempt_ids(task: Task) -> list[str]:
    """The task's attempts, newest first (each one's detail is `/api/v1/attempts/<id>`)."""
    return list(task.attempts.order_by("-created_at", "-id").values_list("id", flat=True))


def task_runs_page(task: Task, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The task's agent runs, newest first."""
    runs = (
        Run.objects.filter(attempt__task=task, kind=Run.Kind.AGENT)
        .select_related("attempt__task")
        .defer("prompt")
        .order_by("-created_at", "-id")
    )
    page = list(runs[offset : offset + limit])
    files = files_by_run(page)
    return [run_summary(run, files[run.id]) for run in page], runs.count()


# The dashboard's board: a page of one column's cards at a time, so 10,000 tasks stay fast.


# The board's status filter: the badges a card shows. Each of the run statuses narrows the
# tasks to those that can have it (one indexed query), whose exact status is then computed as
# the badges are; `needs-input` is the badge's own rule in the query, nothing to compute.
RUN_STATUSES = ("running", "queued", "blocked", "failed")
NEEDS_INPUT = "needs-input"
BOARD_STATUSES = (*RUN_STATUSES, NEEDS_INPUT)


def needs_input() -> Exists:
    """Whether the task (the query's row) has an unanswered agent question on its bus: its
    card's "needs input" badge, and the board's `needs-input` filter."""
    return Exists(OpenQuestion.objects.filter(task=OuterRef("pk")))


@dataclass(frozen=True)
class BoardFilter:
    """The board's search and filters (its query parameters): `text` in the title, prompt or
    id, the task's `agent` (type or profile), a badge `status` of `BOARD_STATUSES`."""

    text: str = ""
    agent: str = ""
    status: str = ""

    @property
    def computed(self) -> bool:
        """The status filter keeps the tasks whose computed status it is (`status_of`): a
        column's cards and count come from computing them, not from the query."""
        return self.status in RUN_STATUSES

    def tasks(self, project: Project) -> QuerySet[Task]:
        tasks = Task.objects.filter(project=project)
        if self.text:
            text = Q(title__icontains=self.text) | Q(prompt__icontains=self.text)
            tasks = tasks.filter(text | Q(task_id__icontains=self.text))
        if self.agent:
            tasks = tasks.filter(agent_type=self.agent)
        if self.status == NEEDS_INPUT:
            tasks = tasks.filter(needs_input())
        elif self.status:
            tasks = tasks.filter(pk__in=_may_have_status(self.status))
        return tasks


def _may_have_status(status: str) -> QuerySet[Any, Any]:
    """The pks of tasks that may have `status` (`tasks.status.status_of`): a running (or
    starting) agent run, an attempt waiting for the planner, a failed or crashed run."""
    if status in ("queued", "blocked"):
        waiting = Attempt.objects.filter(admitted_at__isnull=True, status=RunStatus.CREATED)
        return waiting.values("task_id")
    statuses = {"running": ACTIVE_STATUSES, "failed": (RunStatus.FAILED, RunStatus.CRASHED)}
    runs = Run.objects.filter(kind=Run.Kind.AGENT, status__in=statuses[status])
    return runs.values("attempt__task_id")


def board_column(
    project: Project, column: str, *, limit: int, offset: int, filters: BoardFilter | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of the column's cards in board order, and how many match a computed status
    filter (None without one: `column_counts` counts them). Each card is a task-list item
    (`task_items`: its status for the badges) with the task's title, agent and whether an
    agent's question on its bus waits for an answer (`needs_input`), read with the titles:
    no query per card."""
    filters = filters or BoardFilter()
    tasks = filters.tasks(project).filter(column=column).order_by("position", "id")
    if filters.computed:
        rows = list(task_rows(tasks))
        pairs = [
            (row, item)
            for row, item in zip(rows, task_items(rows), strict=True)
            if item["status"] == filters.status
        ]
        total: int | None = len(pairs)
        pairs = pairs[offset : offset + limit]
    else:
        rows = list(task_rows(tasks)[offset : offset + limit])
        pairs, total = list(zip(rows, task_items(rows), strict=True)), None
    shown = Task.objects.filter(pk__in=[row["id"] for row, _ in pairs])
    names = shown.annotate(asks=needs_input()).values_list("id", "title", "agent_type", "asks")
    cards = {
        pk: {"title": title, "agent": agent, "needs_input": asks}
        for pk, title, agent, asks in names
    }
    return [{**item, **cards[row["id"]]} for row, item in pairs], total


def column_counts(project: Project, filters: BoardFilter | None = None) -> dict[str, int]:
    """How many cards each board column holds (that match the search and filters; a computed
    status filter's counts are `board_column`'s), in one query."""
    tasks = (filters or BoardFilter()).tasks(project)
    rows = tasks.values("column").order_by().annotate(count=Count("id"))
    counts = {column: 0 for column in Task.Column.values}
    counts.update({row["column"]: row["count"] for row in rows})
    return counts


def board_stats(project: Project, columns: dict[str, int] | None = None) -> dict[str, Any]:
    """The board's stats bar, the whole project's whatever the board's filters: its tasks per
    column (`columns` when the caller counted them already), its agent runs by status
    (`agent_run_counts`), the tasks waiting for the planner (queued or blocked) and those an
    agent asked a question of; four queries, none per task."""
    columns = columns if columns is not None else column_counts(project)
    waiting = Attempt.objects.filter(
        task__project=project, admitted_at__isnull=True, status=RunStatus.CREATED
    )
    asking = OpenQuestion.objects.filter(task__project=project)
    return {
        "tasks": sum(columns.values()),
        "columns": columns,
        "runs": agent_run_counts(project),
        "waiting": waiting.values("task_id").distinct().count(),
        "needs_input": asking.values("task_id").distinct().count(),
    }


def dependency_candidates(project: Project, limit: int) -> list[tuple[str, str]]:
    """(task id, title) of the project's most recently changed tasks, for the board's
    "depends on" picker (bus-only tasks, which no agent works on, left out)."""
    tasks = project.tasks.exclude(agent_type="").order_by("-updated_at", "task_id")
    return list(tasks.values_list("task_id", "title")[:limit])
