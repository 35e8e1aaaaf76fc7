"""Reading runs: the one place that turns a Run into its API form, and the project API's run
summaries, flat run lists and garbage-collection candidates (`/api/projects/...`).

A run's status has one word per surface (docs/api.md, "Vocabulary"): `document_status` for the
Conductor Loop document's `/api/v1` run objects and run stream, `ui_status` for the project API
the web UI polls and the named events it listens to; the house routes (`/api/v1/attempts`,
the event log) show the stored status as it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from conductor_site.db_functions import OctetLength, utc_text
from projects import storage
from projects.models import Project
from runs.files import RUN_FILES, log_files_exist, run_folder
from runs.models import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Attempt,
    LogChunk,
    Run,
    RunStatus,
    Worker,
)

# The document's run statuses: a run that has not started is `created`, whether it waits for
# a worker (stored `queued`) or for a planner slot (`created`).
DOCUMENT_STATUS = {RunStatus.QUEUED.value: RunStatus.CREATED.value}
# The web UI's and upstream's: a succeeded run is `completed` (the document's stats wording),
# one not started `queued`, a crashed one `failed`.
UI_STATUS = {
    RunStatus.CREATED.value: "queued",
    RunStatus.QUEUED.value: "queued",
    RunStatus.RUNNING.value: "running",
    RunStatus.SUCCESS.value: "completed",
    RunStatus.FAILED.value: "failed",
    RunStatus.CRASHED.value: "failed",
    RunStatus.STOPPED.value: "stopped",
}
DOCUMENT_STATUSES = [status for status in RunStatus.values if status not in DOCUMENT_STATUS]
UI_STATUSES = list(dict.fromkeys(UI_STATUS.values()))


def document_status(status: str) -> str:
    """A stored run status in the document's words (`/api/v1` runs, `/api/v1/runs/<r>/stream`,
    the unnamed events of `/api/v1/runs/stream/all`)."""
    return DOCUMENT_STATUS.get(status, status)


def ui_status(status: str) -> str:
    """A stored run status in the web UI's words (the project API's runs, the named `status`
    events of `/api/v1/runs/stream/all`)."""
    return UI_STATUS.get(status, status)


def api_exit_code(exit_code: int | None) -> int:
    """A run's exit code as every API shape and stream writes it: -1 where the run has none (it
    never started, or it ended without one)."""
    return exit_code if exit_code is not None else -1


def rfc3339(value: datetime | str | None) -> str | None:
    """A time as the API writes it, from a datetime or the UTC text the lists read
    (`conductor_site.db_functions.UtcText`): the same string either way."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.replace(" ", "T") + "Z"
    return value.isoformat().replace("+00:00", "Z")


def run_rows(runs: QuerySet[Run]) -> QuerySet[Run, Any]:
    """The runs as the values the task lists read, times as UTC text: the lists build no Run
    models (building 10,000 of them was half of a whole task list's time)."""
    return runs.values(
        "id",
        "kind",
        "status",
        "exit_code",
        "agent_version",
        "error_summary",
        agent=F("attempt__agent"),
        created=utc_text("created_at"),
        started=utc_text("started_at"),
        ended=utc_text("ended_at"),
    )


def run_to_api(run: Run) -> dict[str, Any]:
    """Conductor Loop's run shape: `end_time` and `exit_code` only once the run ended."""
    task = run.attempt.task
    row = (
        run.id,
        run.kind,
        run.status,
        run.exit_code,
        run.agent_version,
        run.error_summary,
        run.attempt.agent,
        run.created_at,
        run.started_at,
        run.ended_at,
    )
    return run_row_to_api(row, project_id=task.project_id, task_id=task.task_id)


def run_row_to_api(row: Sequence[Any], *, project_id: str, task_id: str) -> dict[str, Any]:
    """`run_to_api` of a run's values in the order the whole task list reads them: id, kind,
    status, exit code, agent version, error summary, agent, then the created, started and
    ended times (datetimes, or the lists' UTC text). Positional, not a dict: the list builds
    10,000 of them."""
    run_id, kind, status, exit_code, version, summary, agent, created, started, ended = row
    data: dict[str, Any] = {
        "run_id": run_id,
        "project_id": project_id,
        "task_id": task_id,
        "kind": kind,
        "status": document_status(status),
        "start_time": rfc3339(started or created),
        "agent": agent,
        "agent_version": version,
        "error_summary": summary,
    }
    if status in TERMINAL_STATUSES:
        data["end_time"] = rfc3339(ended)
        data["exit_code"] = api_exit_code(exit_code)
    return data


def run_output(run: Run) -> str:
    """stdout and stderr merged in `seq` order, capped (the whole log is in the run files)."""
    cap = int(settings.CONDUCTOR["OUTPUT_MAX_BYTES"])
    parts: list[str] = []
    size = 0
    chunks = LogChunk.objects.filter(run=run).order_by("seq").values_list("text", flat=True)
    for text in chunks.iterator(chunk_size=64):
        if size + len(text) > cap:
            parts.append(text[: max(cap - size, 0)])
            parts.append(
                f"\n[conductor] output truncated at {cap} characters of {run.log_bytes} bytes; "
                "the full log is in the run's stdout and stderr files\n"
            )
            break
        parts.append(text)
        size += len(text)
    return "".join(parts)


# The project API's runs (`/api/projects/<p>/...`) and garbage collection.


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


def run_summary(run: Run, files: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The project API's run: `run_to_api` in the UI's words, plus `id`, `exit_code` -1 and
    `end_time` null while it has not ended, the thread parent's run as `parent_run_id`, and
    its files."""
    data = run_to_api(run)
    thread_parent = run.attempt.task.thread_parent or {}
    summary = {
        "id": run.id,
        **data,
        "status": ui_status(run.status),
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
    that exist. stdout and stderr exist once the run started (`log_files_exist`); `size` is in
    bytes."""
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
        if size is None and log_files_exist(run):
            return 0
        return size
    if name == "prompt":
        return len(run.prompt.encode())
    return outputs.get(run_folder(run) / "output.md")


def flat_runs(
    project: Project, *, active_only: bool, selected_task_id: str | None, selected_limit: int
) -> list[dict[str, Any]]:
    """The tree's runs, oldest first: every agent run of the project, or with `active_only`
    the active ones, each task's latest (so a task that ended meanwhile shows how), the
    latest `selected_limit` of the selected task and the thread parents' runs they nest
    under. One query (two with a selected task), one more per level of thread parents
    missing."""
    runs = (
        Run.objects.filter(attempt__task__project=project, kind=Run.Kind.AGENT)
        .select_related("attempt__task")
        .only(*RUN_SUMMARY_FIELDS)
    )
    if not active_only:
        return [_flat_item(run) for run in runs.order_by("created_at", "id")]
    latest = runs.filter(attempt__task=OuterRef("attempt__task")).order_by("-created_at", "-id")
    chosen = list(
        runs.filter(Q(status__in=ACTIVE_STATUSES) | Q(id=Subquery(latest.values("id")[:1])))
    )
    if selected_task_id and selected_limit:
        selected = runs.filter(attempt__task__task_id=selected_task_id)
        chosen += list(selected.order_by("-created_at", "-id")[:selected_limit])
    unique = _with_thread_parents(runs, {run.id: run for run in chosen})
    ordered = sorted(unique.values(), key=lambda run: (run.created_at, run.id))
    return [_flat_item(run) for run in ordered]


def _with_thread_parents(runs: QuerySet[Run], chosen: dict[str, Run]) -> dict[str, Run]:
    """`chosen` and, among `runs`, the runs their tasks' thread parents name, up the chain
    (a parent of another project, or deleted, is looked for once)."""
    looked_for: set[str | None] = {None}
    while missing := {_thread_parent_run(run) for run in chosen.values()} - looked_for - {*chosen}:
        looked_for |= missing
        chosen |= {run.id: run for run in runs.filter(id__in=missing)}
    return chosen


def _thread_parent_run(run: Run) -> str | None:
    return (run.attempt.task.thread_parent or {}).get("run_id") or None


def _flat_item(run: Run) -> dict[str, Any]:
    summary = run_summary(run)
    item = {
        key: summary[key] for key in ("id", "task_id", "agent", "status", "exit_code", "start_time")
    }
    for optional in ("end_time", "parent_run_id", "previous_run_id"):
        if summary[optional] is not None:
            item[optional] = summary[optional]
    return item


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


def attempt_to_api(attempt: Attempt) -> dict[str, Any]:
    """An attempt as `/api/v1/attempts` shows it (`runs.openapi.AttemptSerializer`)."""
    task = attempt.task
    return {
        "attempt_id": attempt.id,
        "project_id": task.project_id,
        "task_id": task.task_id,
        "agent": attempt.agent,
        "status": attempt.status,
        "branch": attempt.branch,
        "base_branch": attempt.base_branch,
        "target_branch": attempt.target,
        "base_commit": attempt.base_commit,
        "worktree_path": attempt.worktree_path,
        "worker": attempt.worker,
        "error_summary": attempt.error_summary,
        "merge_commit": attempt.merge_commit,
        "merge_strategy": attempt.merge_strategy,
        "merged_at": rfc3339(attempt.merged_at),
        "pr_url": attempt.pr_url,
        "pr_number": attempt.pr_number,
        "pr_state": attempt.pr_state,
        "operation": attempt.operation,
        "worktree": worktree_to_api(attempt),
        "created_at": rfc3339(attempt.created_at),
    }


def worktree_to_api(attempt: Attempt) -> dict[str, Any]:
    """The attempt's worktree as the owning worker last recorded it (`runs.archive`)."""
    return {
        "path": attempt.worktree_path,
        "present": bool(attempt.worktree_path) and attempt.worktree_archived_at is None,
        "archived_at": rfc3339(attempt.worktree_archived_at),
        "archived_reason": attempt.worktree_archived_reason,
        "disk_bytes": attempt.worktree_disk_bytes,
        "measured_at": rfc3339(attempt.worktree_measured_at),
    }


def attempt_run_to_api(run: Run) -> dict[str, Any]:
    """A run of an attempt (an execution process): what it ran, how it ended, HEAD around it."""
    return {
        "run_id": run.id,
        "attempt_id": run.attempt_id,
        "kind": run.kind,
        "status": run.status,
        "exit_code": run.exit_code,
        "previous_run_id": run.previous_run_id,
        "worker": run.worker,
        "agent_session_id": run.agent_session_id,
        "head_before": run.head_before,
        "head_after": run.head_after,
        "url": run.url,
        "error_summary": run.error_summary,
        "log_bytes": run.log_bytes,
        "log_lines": run.log_lines,
        "created_at": rfc3339(run.created_at),
        "started_at": rfc3339(run.started_at),
        "ended_at": rfc3339(run.ended_at),
        "dropped_at": rfc3339(run.dropped_at),
    }


# The worker hosts (production mode), for the Now page.


def workers_with_load() -> list[dict[str, Any]]:
    """Every worker that has sent a heartbeat, with whether it is still heard from and how many
    runs it holds (running, and claimed but not yet started): two queries for all of them."""
    timeout = float(settings.CONDUCTOR["HEARTBEAT_TIMEOUT_SECONDS"])
    alive_after = timezone.now() - timedelta(seconds=timeout)
    held = Run.objects.filter(status__in=ACTIVE_STATUSES).exclude(worker="")
    load = dict(held.values("worker").annotate(runs=Count("id")).values_list("worker", "runs"))
    return [
        {
            "name": worker.name,
            "heartbeat_at": worker.heartbeat_at,
            "alive": worker.heartbeat_at >= alive_after,
            "runs": load.get(worker.name, 0),
        }
        for worker in Worker.objects.order_by("name")
    ]
