"""Deleting what Conductor stored: runs, tasks, projects, and garbage collection.

Conductor's own rows and data folders go, and the worktrees of deleted tasks (on the worker
that made each). The repository and its branches stay: they hold the work.
"""

from __future__ import annotations

import time
from contextlib import suppress

from django.db import transaction
from django.db.models import Q, QuerySet

from projects import selectors, storage
from projects.models import Project
from runs.files import run_folder
from runs.models import ACTIVE_STATUSES, Attempt, Run
from runs.services import stop_deadline
from runs.tasks import enqueue_worktree_retire
from tasks.models import Task
from tasks.services import task_cancel


class Busy(Exception):
    """Something still runs (HTTP 409); `details` go to the error's details."""

    def __init__(self, message: str, **details: str) -> None:
        super().__init__(message)
        self.details = details


def run_delete(run: Run) -> None:
    if run.status in ACTIVE_STATUSES:
        raise Busy(f"run {run.id!r} is {run.status}: stop it first", status=run.status)
    folder = run_folder(run)
    with transaction.atomic():
        run.delete()
        storage.folder_remove(folder)


def runs_delete(runs: list[Run]) -> None:
    folders = [run_folder(run) for run in runs]
    ids = [run.id for run in runs]
    with transaction.atomic():
        for start in range(0, len(ids), 500):
            Run.objects.filter(id__in=ids[start : start + 500]).delete()
    for folder in folders:
        with suppress(OSError):
            storage.folder_remove(folder)


def task_delete(task: Task) -> None:
    folder = storage.task_dir(task.project_id, task.task_id)
    with transaction.atomic():
        if selectors.has_active_work(Task.objects.filter(pk=task.pk)):
            raise Busy(f"task {task.task_id!r} has active runs: stop them first")
        enqueue_worktree_retire(_attempts(Task.objects.filter(pk=task.pk)))
        task.delete()
        storage.folder_remove(folder)


def _attempts(tasks: QuerySet[Task]) -> list[Attempt]:
    return list(
        Attempt.objects.filter(task__in=tasks)
        .exclude(worktree_path="")
        .select_related("task__project")
    )


def project_delete(project: Project, *, force: bool) -> tuple[int, int]:
    """Delete the project's tasks, runs, logs, buses and data folder; returns (tasks deleted,
    bytes freed). With `force`, what runs is stopped first."""
    if selectors.has_active_work(project.tasks.all()):
        if not force:
            raise Busy(f"project {project.id!r} has active runs: stop them or use force=true")
        _stop_all(project)
    freed = selectors.project_bytes(project)
    deleted_tasks = project.tasks.count()
    folder = storage.project_dir(project.id)
    with transaction.atomic():
        enqueue_worktree_retire(_attempts(project.tasks.all()))
        project.delete()
        storage.folder_remove(folder)
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
