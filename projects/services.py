"""Deleting a project: its tasks, runs, logs, buses and data folder.

Conductor's own rows and data folders go, and the worktrees of its tasks (on the worker that
made each). The repository and its branches stay: they hold the work. Runs are deleted in
`runs.services` (`run_delete`, `runs_delete`), tasks in `tasks.services.task_delete`.
"""

from __future__ import annotations

import time

from django.db import transaction
from django.db.models import Q

from conductor_site.locks import delete_lock
from projects import selectors, storage
from projects.models import Project
from runs.models import ACTIVE_STATUSES
from runs.services import Busy, stop_deadline
from runs.tasks import enqueue_worktree_retire
from tasks.services import delete_refused_while_active, task_cancel, tasks_held_idle


def project_delete(project: Project, *, force: bool) -> tuple[int, int]:
    """Delete the project's tasks, runs, logs, buses and data folder; returns (tasks deleted,
    bytes freed). With `force`, what runs is stopped first."""
    tasks, name = project.tasks.all(), f"project {project.id!r}"
    if force and selectors.has_active_work(tasks):
        _stop_all(project)
    delete_refused_while_active(tasks, name, "stop them or use force=true")
    freed = selectors.project_bytes(project)
    deleted_tasks = project.tasks.count()
    with storage.folder_removed(storage.project_dir(project.id)), transaction.atomic():
        tasks_held_idle(tasks, name)
        enqueue_worktree_retire(selectors.attempts_with_worktrees(tasks))
        delete_lock()  # before the delete collects the project's messages
        project.delete()
    return deleted_tasks, freed


def _stop_all(project: Project) -> None:
    """Cancel every task with active work (no Ralph loop restarts it), then wait until the
    workers have ended its runs and attempts."""
    busy = Q(attempts__status__in=ACTIVE_STATUSES) | Q(attempts__runs__status__in=ACTIVE_STATUSES)
    for task in project.tasks.filter(busy).distinct():
        task_cancel(task)
    deadline = stop_deadline()
    while selectors.has_active_work(project.tasks.all()):
        if time.monotonic() > deadline:
            raise Busy(f"project {project.id!r}: runs are still stopping; try again")
        time.sleep(0.05)
