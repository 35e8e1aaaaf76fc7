"""Reading tasks: their Conductor Loop status and API forms."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from projects import storage
from runs.models import Attempt, Run, RunStatus
from runs.selectors import rfc3339, run_to_api
from tasks import planner
from tasks.models import Task


def agent_runs(task: Task, newest_first: bool = True) -> list[Run]:
    order = ("-created_at", "-id") if newest_first else ("created_at", "id")
    return list(
        Run.objects.filter(attempt__task=task, kind=Run.Kind.AGENT)
        .select_related("attempt__task")
        .order_by(*order)
    )


def agent_runs_of(tasks: list[Task]) -> tuple[dict[int, list[Run]], set[int]]:
    """Each task's agent runs, newest first, and the pks of the tasks whose attempt waits for
    the planner: two queries for any number of tasks."""
    attempts = list(
        Attempt.objects.filter(task_id__in=[task.pk for task in tasks]).values_list(
            "id", "task_id", "admitted_at", "status"
        )
    )
    task_of = {attempt_id: task_pk for attempt_id, task_pk, _, _ in attempts}
    waiting = {
        task_pk
        for _, task_pk, admitted_at, status in attempts
        if admitted_at is None and status == RunStatus.CREATED
    }
    by_pk = {task.pk: task for task in tasks}
    runs: dict[int, list[Run]] = defaultdict(list)
    # Sorted here, per task: no ORDER BY can tempt SQLite's planner away from the index that
    # finds just these attempts' runs.
    for run in (
        Run.objects.filter(attempt_id__in=list(task_of), kind=Run.Kind.AGENT)
        .select_related("attempt")
        .defer("prompt")
        .order_by()
    ):
        run.attempt.task = by_pk[run.attempt.task_id]  # the tasks we have, not a copy each
        runs[run.attempt.task_id].append(run)
    for task_runs in runs.values():
        task_runs.sort(key=lambda run: (run.created_at, run.id), reverse=True)
    return runs, waiting


def waiting_attempt(task: Task) -> Attempt | None:
    """The task's attempt that the planner has not admitted yet, if any."""
    return task.attempts.filter(admitted_at__isnull=True, status=RunStatus.CREATED).first()


def is_done(task: Task) -> bool:
    """The agent wrote the `DONE` marker in its task folder (the Ralph loop's end)."""
    return (storage.task_dir(task.project_id, task.task_id) / "DONE").is_file()


def task_status(task: Task, runs: list[Run], waiting: bool | None = None) -> str:
    """`running`, `queued`, `blocked`, `completed`, `failed` or `idle` (CONTRACT.md); `runs`
    are the task's agent runs, newest first; `waiting` says whether an attempt waits for the
    planner (None: look it up)."""
    if any(run.status == RunStatus.RUNNING for run in runs):
        return "running"
    if waiting is None:
        waiting = waiting_attempt(task) is not None
    if waiting:
        return "blocked" if planner.dependencies(task).pending else "queued"
    if not runs:
        return "idle"
    latest = runs[0]
    if latest.status in (RunStatus.CREATED, RunStatus.QUEUED):
        return "running"
    if latest.status == RunStatus.SUCCESS and (task.loop is None or is_done(task)):
        return "completed"
    if latest.status in (RunStatus.FAILED, RunStatus.CRASHED):
        return "failed"
    return "idle"


def task_status_of(task: Task) -> str:
    return task_status(task, agent_runs(task))


def dependency_status(task: Task) -> str:
    """`task_status_of` for a task that another one waits on: while it waits for the planner
    itself it is `queued`, without asking about its own `depends_on`, so a chain of
    dependencies is never followed link by link (that recursed, and a cycle never ended)."""
    if waiting_attempt(task) is not None:
        return "queued"
    return task_status(task, agent_runs(task), waiting=False)


def queue_position(task: Task) -> int:
    """1..N while the task waits for a slot (oldest first), else 0."""
    return planner.queue_position(waiting_attempt(task))


def blocked_by(task: Task) -> list[str]:
    """The task ids of `depends_on` that have not completed, while the task waits on them."""
    if not task.depends_on or waiting_attempt(task) is None:
        return []
    return planner.dependencies(task).pending


def last_activity(task: Task, runs: list[Run]) -> str | None:
    times = [task.updated_at, *(r.ended_at or r.started_at or r.created_at for r in runs)]
    return rfc3339(max(times))


def tasks_to_api(tasks: list[Task]) -> list[dict[str, Any]]:
    """The `/api/v1/tasks` shape, runs newest first; the planner is asked only about tasks
    that wait for it."""
    runs, waiting = agent_runs_of(tasks)
    return [_task_to_api(task, runs[task.pk], task.pk in waiting) for task in tasks]


def admission(task: Task, runs: list[Run], waiting: bool) -> tuple[str, int, list[str]]:
    """Status, queue position and blockers; the planner is asked only when the task waits."""
    if not waiting:
        return task_status(task, runs, waiting=False), 0, []
    return task_status(task, runs, waiting=True), queue_position(task), blocked_by(task)


def _task_to_api(task: Task, runs: list[Run], waiting: bool) -> dict[str, Any]:
    status, position, blockers = admission(task, runs, waiting)
    return {
        "project_id": task.project_id,
        "task_id": task.task_id,
        "status": status,
        "queue_position": position,
        "last_activity": last_activity(task, runs),
        "depends_on": task.depends_on,
        "blocked_by": blockers,
        "thread_parent": task.thread_parent,
        "done": is_done(task),
        "runs": [run_to_api(run) for run in runs],
    }
