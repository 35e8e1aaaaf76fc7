"""Reading projects for the project-centric API (`/api/projects/...`): the project list and
detail, suggested home folders, statistics, and what deleting a project would free; and for
`/api/v1/projects/<id>/...`, the branches and file names of its repository, and the folder
entries `/api/v1/filesystem/...` shows.

A project's tasks and runs read in their own apps: `tasks.selectors` (task pages and details)
and `runs.selectors` (run summaries, flat run lists, garbage-collection candidates).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import connection
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from conductor_site.errors import DomainError
from messagebus.selectors import bus_totals
from projects import discovery, git, storage
from projects.models import Project
from runs.models import ACTIVE_STATUSES, OPERATION_STALE, Attempt, Run, RunStatus
from runs.selectors import folder_bytes, rfc3339
from tasks.models import Task

# Projects.


def project_exists(project_id: str) -> bool:
    """One indexed read, no query to compile and no model to build (~45 µs against ~350 µs
    for `filter().first()` in-process)."""
    with connection.cursor() as cursor:
        cursor.execute(_PROJECT_EXISTS, [project_id])
        return cursor.fetchone() is not None


_PROJECT_EXISTS = f"SELECT 1 FROM {Project._meta.db_table} WHERE id = %s"


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
        "repo_url": project.repo_url,
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


# Statistics and housekeeping.


def _agent_run_counts() -> dict[str, Count]:
    """Agent runs by status (AMB-5: stopped and crashed count as crashed)."""
    return {
        "total": Count("id"),
        "running": Count("id", filter=Q(status=RunStatus.RUNNING)),
        "completed": Count("id", filter=Q(status=RunStatus.SUCCESS)),
        "failed": Count("id", filter=Q(status=RunStatus.FAILED)),
        "crashed": Count("id", filter=Q(status__in=[RunStatus.STOPPED, RunStatus.CRASHED])),
    }


def project_list_extras() -> dict[str, dict[str, Any]]:
    """What the dashboard's list shows beside `project_summaries`, for every project in one
    query: its name, its agent runs (in all, running) and its present worktrees' disk usage
    as their workers last measured it (`worktree_usage`), never a walk of a folder."""
    runs = Run.objects.filter(attempt__task__project=OuterRef("pk"), kind=Run.Kind.AGENT)
    worktrees = Attempt.objects.filter(
        task__project=OuterRef("pk"), worktree_archived_at=None
    ).exclude(worktree_path="")
    rows = Project.objects.annotate(
        run_total=_per_project(runs, "attempt__task__project", Count("id")),
        run_running=_per_project(
            runs.filter(status=RunStatus.RUNNING), "attempt__task__project", Count("id")
        ),
        disk_bytes=_per_project(worktrees, "task__project", Sum("worktree_disk_bytes")),
    ).values("id", "name", "run_total", "run_running", "disk_bytes")
    return {
        row["id"]: {
            "name": row["name"],
            "runs": {"total": row["run_total"], "running": row["run_running"]},
            "disk_bytes": row["disk_bytes"],
        }
        for row in rows
    }


def _per_project(rows: QuerySet[Any], project: str, aggregate: Count | Sum) -> Coalesce:
    """`aggregate` over `rows` (filtered by an OuterRef to the project) as a subquery: 0 for a
    project with none."""
    grouped = rows.order_by().values(project).annotate(value=aggregate).values("value")
    return Coalesce(Subquery(grouped), 0)


def agent_run_counts(project: Project) -> dict[str, int]:
    """The project's agent runs by status (`total`, `running`, `completed`, `failed`,
    `crashed`), in one query."""
    runs = Run.objects.filter(attempt__task__project=project, kind=Run.Kind.AGENT)
    return runs.aggregate(**_agent_run_counts())


def project_stats(project: Project) -> dict[str, Any]:
    """Agent runs by status and bus totals."""
    runs = agent_run_counts(project)
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
    """Whether a run or an attempt of these tasks has not ended yet, or an operation (a
    merge, a rebase, an archive) holds one of their attempts."""
    return (
        Run.objects.filter(attempt__task__in=tasks, status__in=ACTIVE_STATUSES).exists()
        or Attempt.objects.filter(task__in=tasks, status__in=ACTIVE_STATUSES).exists()
        or operation_held(tasks)
    )


def operation_held(tasks: QuerySet[Task]) -> bool:
    """Whether an operation holds an attempt of these tasks (a stale slot is none)."""
    fresh = timezone.now() - OPERATION_STALE
    return (
        Attempt.objects.filter(task__in=tasks, operation_started_at__gte=fresh)
        .exclude(operation="")
        .exists()
    )


def attempts_with_worktrees(tasks: QuerySet[Task]) -> list[Attempt]:
    """The attempts of these tasks that made a worktree (to retire when they are deleted)."""
    return list(
        Attempt.objects.filter(task__in=tasks)
        .exclude(worktree_path="")
        .select_related("task__project")
    )


def worktree_usage(project: Project) -> dict[str, Any]:
    """The project's worktrees as their owning workers last measured them (after each run
    and on archive, `runs.workspace.worktree_measure`): stored, so any server answers for
    every host without walking a folder."""
    attempts = Attempt.objects.filter(task__project=project).exclude(worktree_path="")
    present = attempts.filter(worktree_archived_at=None).aggregate(
        count=Count("id"), disk_bytes=Sum("worktree_disk_bytes"), at=Max("worktree_measured_at")
    )
    return {
        "present": present["count"],
        "archived": attempts.filter(worktree_archived_at__isnull=False).count(),
        "disk_bytes": int(present["disk_bytes"] or 0),
        "measured_at": rfc3339(present["at"]),
    }


def project_bytes(project: Project) -> int:
    logs = Run.objects.filter(attempt__task__project=project).aggregate(total=Sum("log_bytes"))
    return folder_bytes(storage.project_dir(project.id)) + int(logs["total"] or 0)


# Git reads of a project's repository (`/api/v1/projects/<id>/...`).


class NoRepository(DomainError):
    status_code = 409


def repository_of(project: Project) -> str:
    """The project's repository; NoRepository (409) for a project without one."""
    if not project.has_repository:
        raise NoRepository(f"project {project.id!r} has no git repository", project_id=project.id)
    return project.project_root


def project_branches(project: Project) -> list[dict[str, Any]]:
    """Local branches first, then remote-tracking ones, each group by name."""
    found = git.branches(repository_of(project))
    return [
        {
            "name": branch.name,
            "is_remote": branch.is_remote,
            "is_current": branch.is_current,
            "last_commit_date": rfc3339(datetime.fromtimestamp(branch.committed_at, tz=UTC)),
        }
        for branch in sorted(found, key=lambda b: (b.is_remote, b.name))
    ]


# How a file's path matches a search, best first.
MATCHES = ("name", "name_prefix", "name_contains", "path_contains")


def project_file_search(project: Project, query: str) -> list[dict[str, str]]:
    """The project's files (tracked, and untracked but not ignored) whose path holds `query`,
    case-insensitively: an exact file name first, then names starting with it, names holding
    it, and paths holding it; by path within each. Only names are read, never contents."""
    needle = query.lower()
    ranked = []
    for path in git.file_names(repository_of(project)):
        match = _file_match(path.lower(), needle)
        if match is not None:
            ranked.append((MATCHES.index(match), path, match))
    return [{"path": path, "match": match} for _, path, match in sorted(ranked)]


def _file_match(path: str, needle: str) -> str | None:
    name = path.rpartition("/")[2]
    if name == needle:
        return "name"
    if name.startswith(needle):
        return "name_prefix"
    if needle in name:
        return "name_contains"
    return "path_contains" if needle in path else None


def folder_entry(entry: discovery.Entry) -> dict[str, Any]:
    """A folder's entry or a found repository (`projects.discovery`) as the API shows it."""
    return {
        "name": entry.name,
        "path": entry.path,
        "is_directory": entry.is_directory,
        "is_symlink": entry.is_symlink,
        "is_git_repo": entry.is_git_repo,
        "last_modified": rfc3339(entry.modified),
    }
