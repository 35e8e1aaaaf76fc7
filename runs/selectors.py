"""Reading runs: the one place that turns a Run into its API form."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import F, QuerySet

from conductor_site.db_functions import utc_text
from runs.models import TERMINAL_STATUSES, LogChunk, Run


def rfc3339(value: datetime | str | None) -> str | None:
    """A time as the API writes it, from a datetime or the UTC text the lists read
    (`conductor_site.db_functions.UtcText`): the same string either way."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.replace(" ", "T") + "Z"
    return value.isoformat().replace("+00:00", "Z")


def run_rows(runs: QuerySet[Run]) -> QuerySet[Run, Any]:
    """The runs as the values `run_row_to_api` reads, times as UTC text: the lists build no
    Run models (building 10,000 of them was half of a whole task list's time)."""
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
    row = {
        "id": run.id,
        "kind": run.kind,
        "status": run.status,
        "exit_code": run.exit_code,
        "agent_version": run.agent_version,
        "error_summary": run.error_summary,
        "agent": run.attempt.agent,
        "created": run.created_at,
        "started": run.started_at,
        "ended": run.ended_at,
    }
    return run_row_to_api(row, project_id=task.project_id, task_id=task.task_id)


def run_row_to_api(row: dict[str, Any], *, project_id: str, task_id: str) -> dict[str, Any]:
    """`run_to_api` of a run read by `run_rows`."""
    data: dict[str, Any] = {
        "run_id": row["id"],
        "project_id": project_id,
        "task_id": task_id,
        "kind": row["kind"],
        "status": row["status"],
        "start_time": rfc3339(row["started"] or row["created"]),
        "agent": row["agent"],
        "agent_version": row["agent_version"],
        "error_summary": row["error_summary"],
    }
    if row["status"] in TERMINAL_STATUSES:
        data["end_time"] = rfc3339(row["ended"])
        data["exit_code"] = row["exit_code"] if row["exit_code"] is not None else -1
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
