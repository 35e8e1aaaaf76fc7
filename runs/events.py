"""Live events about runs and attempts: each change is recorded in the event log (in the
caller's transaction) and published once that commits (`conductor_site.live.history.record`).

Group `runs` gets every lifecycle change of every run (`run.changed`), for
`/api/v1/runs/stream/all`; group `run.<id>` gets the run's own log chunks (`log.chunk`, see
`runs.logsink.chunk_event`) and its status changes; `attempt.<id>` its attempt's changes;
`project.<id>` all of them, for the board.
"""

from __future__ import annotations

from conductor_site.live.events import (
    ALL_RUNS_GROUP,
    AttemptChange,
    AttemptChanged,
    RunChange,
    RunChanged,
    attempt_group,
    project_group,
    run_group,
)
from conductor_site.live.history import record
from runs.models import Attempt, Run


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
    event = run_event(run, change)
    groups = [ALL_RUNS_GROUP, run_group(run.id), project_group(event["project_id"])]
    record(event, groups)


def attempt_event(attempt: Attempt, change: AttemptChange) -> AttemptChanged:
    return {
        "type": "attempt.changed",
        "change": change,
        "attempt_id": attempt.id,
        "project_id": attempt.task.project_id,
        "task_id": attempt.task.task_id,
        "status": attempt.status,
        "error_summary": attempt.error_summary,
    }


def attempt_status_changed(attempt_id: str, change: AttemptChange) -> None:
    """Inside the change's transaction: the event of the attempt's row as it is now."""
    attempt = Attempt.objects.select_related("task").get(id=attempt_id)
    event = attempt_event(attempt, change)
    record(event, [attempt_group(attempt.id), project_group(event["project_id"])])
