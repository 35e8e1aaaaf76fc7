"""Live events about tasks: each change is recorded in the event log (in the caller's
transaction) and published to the project's board group once that commits."""

from __future__ import annotations

from conductor_site.live.events import TaskChange, TaskChanged, project_group
from conductor_site.live.history import record
from tasks.models import Task


def task_event(task: Task, change: TaskChange) -> TaskChanged:
    return {
        "type": "task.changed",
        "change": change,
        "project_id": task.project_id,
        "task_id": task.task_id,
        "column": task.column,
    }


def task_changed(task: Task, change: TaskChange) -> None:
    record(task_event(task, change), [project_group(task.project_id)])
