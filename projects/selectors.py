"""Reading projects for the project-centric API (`/api/projects/...`): projects, task lists
and details, run summaries, flat run lists and statistics.

Lists are built from a fixed number of queries whatever their length: a task page loads its
tasks, their attempts and their agent runs as values in three queries (and a count), and
nothing from the task folders. Only tasks that wait for admission (queued or blocked) go
through the planner one by one, as `tasks.selectors` does.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db.models import Count, Max, Q, QuerySet, Sum

from conductor_site.db_functions import OctetLength
from messagebus.selectors import bus_totals
from projects import storage
from projects.models import Project
from runs.files import RUN_FILES, run_folder
from runs.models import ACTIVE_STATUSES, TERMINAL_STATUSES, Attempt, LogChunk, Run, RunStatus
from runs.selectors import rfc3339, run_to_api
from tasks.models import Task
from tasks.selectors import (
    agent_runs,
    blocked_by,
    is_done,
    last_activity,
    queue_position,
    row_activity,
    row_admission,
    run_rows_of,
    task_rows,
    task_status,
)

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

# The fields run_to_api and the summaries read: the prompt (often large) is left out.
RUN_SUMMARY_FIELDS = (
    "id",
    "kind",
    "status",
    "exit_code",
    "agent_version",
    "error_summary",
    "previous_run",
    "created_at",
    "started_at",
    "ended_at",
    "attempt",
    "attempt__agent",
    "attempt__task",
    "attempt__task__task_id",
    "attempt__task__project",
    "attempt__task__thread_parent",
)


# Projects.


def project_summaries() -> list[dict[str, Any]]:
    """Every project, most recently active first."""
    projects = Project.objects.annotate(
        task_total=Count("tasks", distinct=True),
        last_task=Max("tasks__updated_at"),
        last_run_created=Max("tasks__attempts__runs__created_at"),
        last_run_started=Max("tasks__attempts__runs__started_at"),
        last_run_ended=Max("tasks__attempts__runs__ended_at"),
    ).order_by("id")
    latest = {project.id: _latest(_activity_times(project)) for project in projects}
    ordered = sorted(projects, key=lambda p: latest[p.id] or datetime.min.replace(tzinfo=UTC))
    return [
        {
            "id": project.id,
            "last_activity": rfc3339(latest[project.id]),
            "task_count": project.task_total,
            "project_root": project.project_root,
        }
        for project in reversed(ordered)
    ]


def project_summary(project: Project) -> dict[str, Any]:
    """`{id, last_activity, task_count, project_root}` of one project."""
    activity = Run.objects.filter(attempt__task__project=project).aggregate(
        created=Max("created_at"), started=Max("started_at"), ended=Max("ended_at")
    )
    tasks = project.tasks.aggregate(count=Count("id"), updated=Max("updated_at"))
    times = [project.updated_at, tasks["updated"], *activity.values()]
    return {
        "id": project.id,
        "last_activity": rfc3339(_latest(times)),
        "task_count": tasks["count"],
        "project_root": project.project_root,
    }


def project_detail(project: Project) -> dict[str, Any]:
    return {
        **project_summary(project),
        "name": project.name,
        "default_branch": project.default_branch,
        "has_repository": project.has_repository,
        "created_at": rfc3339(project.created_at),
    }


def _activity_times(project: Any) -> list[datetime | None]:
    return [
        project.updated_at,
        project.last_task,
        project.last_run_created,
        project.last_run_started,
        project.last_run_ended,
    ]


def _latest(times: Iterable[datetime | None]) -> datetime | None:
    present = [t for t in times if t is not None]
    return max(present) if present else None


def home_dirs() -> list[str]:
    """Project roots and the working directories of runs, sorted, without duplicates. Folders
    inside Conductor's data dir or worktree root (task folders, worktrees) are left out: they
    are Conductor's, never a home folder to suggest."""
    roots = Project.objects.exclude(project_root="").values_list("project_root", flat=True)
    cwds = Run.objects.exclude(cwd="").values_list("cwd", flat=True).distinct()
    own = [storage.data_dir().resolve(), storage.worktree_root().resolve()]
    return sorted({path for path in [*roots, *cwds] if not _inside_any(path, own)})


def _inside_any(path: str, folders: list[Path]) -> bool:
    resolved = Path(path).resolve()
    return any(resolved == folder or folder in resolved.parents for folder in folders)


# Task lists and details.


def task_page(
    project: Project, *, status: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of the project's tasks, newest first, and how many match in all. Without a
    status filter only the page is read; with one, every task's status is needed first."""
    tasks = Task.objects.filter(project=project).order_by("-created_at", "-id")
    rows = task_rows(tasks)
    if status is None:
        return task_items(list(rows[offset : offset + limit])), tasks.count()
    matching = [item for item in task_items(list(rows)) if _matches(item, status)]
    return matching[offset : offset + limit], len(matching)


def _matches(item: dict[str, Any], status: str) -> bool:
    if status == "done":
        return bool(item["done"])
    return item["status"] in TASK_STATUS_FILTERS[status]


def task_items(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The task-list shape of tasks read by `task_rows`, in three queries plus the planner's
    own for tasks that wait for admission."""
    runs = run_rows_of([row["id"] for row in rows])
    return [_task_item(row, runs.by_task[row["id"]], runs.waiting.get(row["id"])) for row in rows]


def _task_item(
    row: dict[str, Any], runs: list[dict[str, Any]], waiting: Task | None
) -> dict[str, Any]:
    latest = runs[0] if runs else None
    status, position, blockers = row_admission(row, runs, waiting)
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
        "run_counts": dict(Counter(run["status"] for run in runs)),
        "done": row["done"] is not None,
        "last_run_status": latest["status"] if latest else None,
        "last_run_exit_code": _ended_exit_code(latest),
    }


def _ended_exit_code(run: dict[str, Any] | None) -> int | None:
    """The exit code as the run shapes give it once the run ended (-1 when it ended without
    one, e.g. it never started); None while it has not ended."""
    if run is None or run["status"] not in TERMINAL_STATUSES:
        return None
    return run["exit_code"] if run["exit_code"] is not None else -1


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
    }


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


# Runs.


def run_summary(run: Run, files: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The project API's run: `run_to_api` plus `id`, `exit_code` -1 and `end_time` null
    while it has not ended, the thread parent's run as `parent_run_id`, and its files."""
    data = run_to_api(run)
    thread_parent = run.attempt.task.thread_parent or {}
    summary = {
        "id": run.id,
        **data,
        "exit_code": data.get("exit_code", -1),
        "end_time": data.get("end_time"),
        "parent_run_id": thread_parent.get("run_id") or None,
        "previous_run_id": run.previous_run_id,
    }
    if files is not None:
        summary["files"] = files
    return summary


def run_detail(run: Run) -> dict[str, Any]:
    return {
        **run_summary(run, files_by_run([run])[run.id]),
        "cwd": run.cwd,
        "pid": run.pid,
        "pgid": run.pid,
        "worker": run.worker,
    }


def files_by_run(runs: list[Run]) -> dict[str, list[dict[str, Any]]]:
    """`runs.files.run_files` for many runs in one query: `[{name, label, size}]` of the files
    that exist. stdout and stderr exist once the run printed or ended; `size` is in bytes."""
    sizes = {
        (row["run_id"], row["stream"]): int(row["size"] or 0)
        for row in LogChunk.objects.filter(run__in=[run.id for run in runs])
        .values("run_id", "stream")
        .annotate(size=Sum(OctetLength("text")))
    }
    outputs = storage.file_sizes([run_folder(run) / "output.md" for run in runs])
    listing: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        files = []
        for name, label in RUN_FILES.items():
            size = _file_size(run, name, sizes, outputs)
            if size is not None:
                files.append({"name": name, "label": label, "size": size})
        listing[run.id] = files
    return listing


def _file_size(
    run: Run, name: str, sizes: dict[tuple[str, str], int], outputs: dict[Path, int]
) -> int | None:
    if name in ("stdout", "stderr"):
        size = sizes.get((run.id, name))
        if size is None and (run.log_lines or run.ended_at):
            return 0
        return size
    if name == "prompt":
        return len(run.prompt.encode())
    return outputs.get(run_folder(run) / "output.md")


def flat_runs(
    project: Project, *, active_only: bool, selected_task_id: str | None, selected_limit: int
) -> list[dict[str, Any]]:
    """The tree's runs, oldest first: every agent run of the project, or with `active_only`
    the active ones plus the latest `selected_limit` of the selected task. Two queries."""
    runs = (
        Run.objects.filter(attempt__task__project=project, kind=Run.Kind.AGENT)
        .select_related("attempt__task")
        .only(*RUN_SUMMARY_FIELDS)
    )
    chosen = list(runs.filter(status__in=ACTIVE_STATUSES)) if active_only else list(runs)
    if active_only and selected_task_id and selected_limit:
        selected = runs.filter(attempt__task__task_id=selected_task_id)
        chosen += list(selected.order_by("-created_at", "-id")[:selected_limit])
    unique = {run.id: run for run in chosen}
    ordered = sorted(unique.values(), key=lambda run: (run.created_at, run.id))
    return [_flat_item(run) for run in ordered]


def _flat_item(run: Run) -> dict[str, Any]:
    summary = run_summary(run)
    item = {
        key: summary[key] for key in ("id", "task_id", "agent", "status", "exit_code", "start_time")
    }
    for optional in ("end_time", "parent_run_id", "previous_run_id"):
        if summary[optional] is not None:
            item[optional] = summary[optional]
    return item


# Statistics and housekeeping.


def project_stats(project: Project) -> dict[str, Any]:
    """Agent runs by status (AMB-5: stopped and crashed count as crashed) and bus totals."""
    runs = Run.objects.filter(attempt__task__project=project, kind=Run.Kind.AGENT).aggregate(
        total=Count("id"),
        running=Count("id", filter=Q(status=RunStatus.RUNNING)),
        completed=Count("id", filter=Q(status=RunStatus.SUCCESS)),
        failed=Count("id", filter=Q(status=RunStatus.FAILED)),
        crashed=Count("id", filter=Q(status__in=[RunStatus.STOPPED, RunStatus.CRASHED])),
    )
    buses, bus_bytes = bus_totals(project.id)
    return {
        "project_id": project.id,
        "total_tasks": project.tasks.count(),
        "total_runs": runs["total"],
        "running_runs": runs["running"],
        "completed_runs": runs["completed"],
        "failed_runs": runs["failed"],
        "crashed_runs": runs["crashed"],
        "message_bus_files": buses,
        "message_bus_total_bytes": bus_bytes,
    }


def has_active_work(tasks: QuerySet[Task]) -> bool:
    """Whether a run or an attempt of these tasks has not ended yet."""
    return (
        Run.objects.filter(attempt__task__in=tasks, status__in=ACTIVE_STATUSES).exists()
        or Attempt.objects.filter(task__in=tasks, status__in=ACTIVE_STATUSES).exists()
    )


def gc_candidates(project: Project, *, ended_before: datetime, keep_failed: bool) -> list[Run]:
    """Runs of every kind that ended before the cutoff, outside attempts still active."""
    runs = (
        Run.objects.filter(
            attempt__task__project=project,
            status__in=[RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.STOPPED, RunStatus.CRASHED],
        )
        .filter(
            Q(ended_at__lt=ended_before) | Q(ended_at__isnull=True, created_at__lt=ended_before)
        )
        .exclude(attempt__status__in=ACTIVE_STATUSES)
        .select_related("attempt__task")
        .only(
            "id",
            "log_bytes",
            "attempt",
            "attempt__task",
            "attempt__task__task_id",
            "attempt__task__project",
        )
    )
    if keep_failed:
        runs = runs.exclude(status__in=[RunStatus.FAILED, RunStatus.CRASHED])
    return list(runs)


def folder_bytes(path: Path) -> int:
    """The size of the files under `path` (0 when it does not exist)."""
    total = 0
    if path.is_symlink():  # planted in place of a run folder: not ours to measure
        return 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def run_bytes(run: Run) -> int:
    """What deleting a run frees: its folder and its stored log."""
    return folder_bytes(run_folder(run)) + run.log_bytes


def project_bytes(project: Project) -> int:
    logs = Run.objects.filter(attempt__task__project=project).aggregate(total=Sum("log_bytes"))
    return folder_bytes(storage.project_dir(project.id)) + int(logs["total"] or 0)
