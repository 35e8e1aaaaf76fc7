"""Live events about runs, sent through the one `publish()` seam after the change committed.

Group `runs` gets every lifecycle change of every run (`run.changed`), for
`/api/v1/runs/stream/all`; group `run.<id>` gets the run's own log chunks (`log.chunk`, see
`runs.logsink.chunk_event`) and its status changes (`run.changed`).
"""

from __future__ import annotations

from django.db import transaction

from conductor_site.live.events import ALL_RUNS_GROUP, RunChange, RunChanged, run_group
from conductor_site.live.publish import publish
from runs.models import Run


def run_event(run: Run, change: RunChange) -> RunChanged:
    task = run.attempt.task
    return {
        "type": "run.changed",
        "change": change,
        "run_id": run.id,
        "attempt_id": run.attempt_id,
        "project_id": task.project_id,
        "task_id": task.task_id,
        "kind": run.kind,
        "status": run.status,
        "exit_code": run.exit_code,
    }


def run_changed(run: Run, change: RunChange) -> None:
    """Publish once the surrounding transaction (if any) has committed."""
    event = run_event(run, change)
    transaction.on_commit(lambda: publish([(ALL_RUNS_GROUP, event), (run_group(run.id), event)]))
