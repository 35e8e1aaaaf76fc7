"""A task's row held for a change's transaction, as `runs.services.attempt_locked` holds an
attempt's: a delete holds it from its first statement, so a change made meanwhile waits,
then finds the task gone (404), instead of writing rows for it that fail their foreign key
at the commit (a 500) or reading a row that is not there."""

from __future__ import annotations

from conductor_site.errors import DomainError
from conductor_site.locks import row_lock
from tasks.models import Task


class TaskNotFound(DomainError):
    status_code = 404


def task_locked(task: Task) -> None:
    """Hold the task's row until the transaction ends; TaskNotFound when it was deleted."""
    if not row_lock(Task.objects.filter(pk=task.pk)).exists():
        raise TaskNotFound(f"task {task.task_id!r} not found (it was deleted)")
