"""Reading runs: the one place that turns a Run into its API form."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings

from runs.models import TERMINAL_STATUSES, LogChunk, Run


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def run_to_api(run: Run) -> dict[str, Any]:
    """Conductor Loop's run shape: `end_time` and `exit_code` only once the run ended."""
    task = run.attempt.task
    data: dict[str, Any] = {
        "run_id": run.id,
        "project_id": task.project_id,
        "task_id": task.task_id,
        "kind": run.kind,
        "status": run.status,
        "start_time": rfc3339(run.started_at or run.created_at),
        "agent": run.attempt.agent,
        "agent_version": run.agent_version,
        "error_summary": run.error_summary,
    }
    if run.status in TERMINAL_STATUSES:
        data["end_time"] = rfc3339(run.ended_at)
        data["exit_code"] = run.exit_code if run.exit_code is not None else -1
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
