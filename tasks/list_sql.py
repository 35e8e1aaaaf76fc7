"""The two task lists, read by raw SQL (issue 8 §2): `/api/v1/tasks` (`tasks_to_api`,
`task_batches`) and a project's task page (`task_page`, `/api/projects/<p>/tasks`).

They read values, not models, and nothing from the task folders: the whole list in one
statement (`_listed_sql`, read as it streams and shaped a batch at a time), a page's tasks,
their agent runs and the project's count in one (`_page_sql`), times as UTC text, and whether
the agent wrote `DONE` from `Task.done_at` (the worker records it when a run ends). At 10,000
tasks a `stat` per task and a model per row were 90% of the time, then building datetimes and
garbage-collecting the whole list's objects most of the rest, then the ORM building a page's
queries and its row loop (a converter call per value). The statements are the ones the ORM
sent (the same joins, order and UTC text times: `conductor_site.db_functions.utc_text_sql`),
parameterized, for SQLite and PostgreSQL alike; JSON columns come as text on both and are
read by `json_text_value`.

Only tasks that wait for admission (queued or blocked) go through the planner, one by one, as
the detail routes do. The rows are shaped by the ORM reading's own rules (`tasks.selectors`:
`row_admission`, `activity_of`, `task_item`), which the board still reads through;
tests/tasks/test_task_list_bytes.py holds the two readings to the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache, lru_cache, partial
from typing import Any

from django.db import connection, connections
from django.db.models import QuerySet

from conductor_site.db_functions import json_text_value, utc_text_sql
from runs.models import Run, RunStatus
from runs.selectors import run_row_to_api
from tasks.models import Task
from tasks.selectors import activity_of, row_admission, task_item


def tasks_to_api(tasks: QuerySet[Task]) -> list[dict[str, Any]]:
    """The `/api/v1/tasks` shape, oldest task first, runs newest first."""
    return [task for batch in task_batches(tasks) for task in batch]


def task_batches(tasks: QuerySet[Task], size: int = 100) -> Iterator[list[dict[str, Any]]]:
    """`tasks_to_api` a batch at a time (`conductor_site.renderers.json_list_response`), from
    one statement read as it streams: only a batch's rows and shapes are alive at once."""
    database = connections[tasks.db]
    chosen, params = tasks.order_by().values(*LISTED_TASK).query.get_compiler(tasks.db).as_sql()
    with database.cursor() as cursor:
        cursor.execute(_listed_sql(database.vendor, chosen), (CREATED, *params, AGENT))
        batch = []
        for rows in _by_task(_fetched(cursor)):
            batch.append(_listed_task(rows))
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


LISTED_TASK = (
    "id",
    "project_id",
    "task_id",
    "thread_parent",
    "depends_on",
    "config",
    "done_at",
    "updated_at",
    "created_at",
)
CREATED, AGENT = RunStatus.CREATED.value, Run.Kind.AGENT.value


@lru_cache(maxsize=64)  # the chosen tasks' SQL: a project's, a task's, an attempt's subtasks
def _listed_sql(vendor: str, chosen: str) -> str:
    """Each task of the `chosen` query (its `LISTED_TASK` columns) joined with each of its agent
    runs (one row with the run's columns NULL for a task without any), oldest task first and
    its runs newest first; the last column says whether the run's attempt waits for the
    planner. SQLite and PostgreSQL read the chosen tasks through the project's index, as if
    the subquery were not there."""
    utc = partial(utc_text_sql, vendor=vendor)
    return f"""
        SELECT t.id, t.project_id, t.task_id, t.thread_parent, t.depends_on, t.config,
            {utc("t.done_at")}, {utc("t.updated_at")},
            r.id, r.kind, r.status, r.exit_code, r.agent_version, r.error_summary, a.agent,
            {utc("r.created_at")}, {utc("r.started_at")}, {utc("r.ended_at")},
            a.admitted_at IS NULL AND a.status = %s
        FROM ({chosen}) t
        LEFT JOIN runs_attempt a ON a.task_id = t.id
        LEFT JOIN runs_run r ON r.attempt_id = a.id AND r.kind = %s
        ORDER BY t.created_at, t.id, r.created_at DESC, r.id DESC"""


def _fetched(cursor: Any, size: int = 2000) -> Iterator[tuple[Any, ...]]:
    while rows := cursor.fetchmany(size):
        yield from rows


def _by_task(rows: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of a list's statement, a list for each task (its id first)."""
    current: list[tuple[Any, ...]] = []
    for row in rows:
        if current and row[0] != current[0][0]:
            yield current
            current = []
        current.append(row)
    if current:
        yield current


def _listed_task(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """One task's API form from its rows of `_listed_sql`; the planner is asked about it, with
    its model, only while one of its attempts waits."""
    pk, project_id, task_id, thread_parent, depends_on, config, done, updated = rows[0][:8]
    runs = [row[8:] for row in rows if row[8] is not None]
    waiting = Task.objects.get(pk=pk) if any(run[10] for run in runs) else None
    status, position, blockers = row_admission(
        [run[2] for run in runs],
        settings=json_text_value(config),
        done=done is not None,
        waiting=waiting,
    )
    return {
        "project_id": project_id,
        "task_id": task_id,
        "status": status,
        "queue_position": position,
        "last_activity": activity_of(updated, [run[9:6:-1] for run in runs]),
        "depends_on": json_text_value(depends_on),
        "blocked_by": blockers,
        "thread_parent": json_text_value(thread_parent),
        "done": done is not None,
        "runs": [run_row_to_api(run[:10], project_id=project_id, task_id=task_id) for run in runs],
    }


# A project's task page (`/api/projects/<p>/tasks`).


# `?status=` of the task list: one task status, or a group of them. `done` is the DONE marker.
TASK_STATUS_FILTERS: dict[str, frozenset[str]] = {
    "running": frozenset({"running"}),
    "queued": frozenset({"queued"}),
    "blocked": frozenset({"blocked"}),
    "active": frozenset({"running", "queued", "blocked"}),
    "completed": frozenset({"completed"}),
    "failed": frozenset({"failed"}),
    "idle": frozenset({"idle"}),
    "done": frozenset(),
}


def task_page(
    project_id: str, *, status: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of the project's tasks, newest first, and how many match in all, in one
    statement (plus the planner's own queries for tasks that wait for admission). Without a
    status filter only the page is read; with one, every task's status is needed first."""
    if status is None:
        return _page(project_id, (limit, offset))
    items, _ = _page(project_id, None)
    matching = [item for item in items if matches_status(item, status)]
    return matching[offset : offset + limit], len(matching)


def _page(project_id: str, window: tuple[int, int] | None) -> tuple[list[dict[str, Any]], int]:
    """The task-list items of the project's tasks in `window` (limit, offset; None: all), and
    how many tasks the project has."""
    params = (CREATED, project_id, project_id, *(window or ()))
    with connection.cursor() as cursor:
        cursor.execute(_page_sql(connection.vendor, window is not None), (*params, AGENT))
        rows = cursor.fetchall()
    tasks = [task for task in _by_task(rows) if task[0][0] is not None]  # an empty page: none
    waits = [task[0][0] for task in tasks if any(row[8] is not None and row[14] for row in task)]
    waiting = {task.pk: task for task in Task.objects.filter(pk__in=waits)} if waits else {}
    items = [
        task_item(_page_task(project_id, task[0]), _page_runs(task), waiting.get(task[0][0]))
        for task in tasks
    ]
    return items, rows[0][-1]


@cache
def _page_sql(vendor: str, windowed: bool) -> str:
    """The project's tasks, newest first (a window of them: `LIMIT %s OFFSET %s`), each joined
    with each of its agent runs, and the project's task count as the last column. The count
    is joined to the tasks, so an empty page is one row whose other columns are NULL."""
    utc = partial(utc_text_sql, vendor=vendor)
    window = "ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s" if windowed else ""
    return f"""
        SELECT t.id, t.task_id, t.thread_parent, t.depends_on, t.config,
            {utc("t.done_at")}, {utc("t.created_at")}, {utc("t.updated_at")},
            r.id, r.status, r.exit_code,
            {utc("r.created_at")}, {utc("r.started_at")}, {utc("r.ended_at")},
            a.admitted_at IS NULL AND a.status = %s, matching.n
        FROM (SELECT COUNT(*) AS n FROM tasks_task WHERE project_id = %s) matching
        LEFT JOIN (
            SELECT id, task_id, thread_parent, depends_on, config, done_at, created_at, updated_at
            FROM tasks_task WHERE project_id = %s {window}
        ) t ON 1 = 1
        LEFT JOIN runs_attempt a ON a.task_id = t.id
        LEFT JOIN runs_run r ON r.attempt_id = a.id AND r.kind = %s
        ORDER BY t.created_at DESC, t.id DESC"""


def _page_task(project_id: str, row: tuple[Any, ...]) -> dict[str, Any]:
    """A task of `_page_sql` as `task_rows` reads it."""
    pk, task_id, thread_parent, depends_on, config, done, created, updated = row[:8]
    return {
        "id": pk,
        "project_id": project_id,
        "task_id": task_id,
        "thread_parent": json_text_value(thread_parent),
        "dependencies": json_text_value(depends_on),
        "settings": json_text_value(config),
        "done": done,
        "created": created,
        "updated": updated,
    }


def _page_runs(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """A task's agent runs from its rows of `_page_sql` as `run_rows_of` gives them, newest
    first."""
    runs = [dict(zip(PAGE_RUN, row[8:14], strict=True)) for row in rows if row[8] is not None]
    runs.sort(key=lambda row: (row["created"], row["id"]), reverse=True)
    return runs


PAGE_RUN = ("id", "status", "exit_code", "created", "started", "ended")


def matches_status(item: dict[str, Any], status: str) -> bool:
    """Whether a task-list item passes the `?status=` filter `status` (a key of
    `TASK_STATUS_FILTERS`)."""
    if status == "done":
        return bool(item["done"])
    return item["status"] in TASK_STATUS_FILTERS[status]
