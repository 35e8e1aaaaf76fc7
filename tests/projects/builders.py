"""Rows for the project API's tests: tasks and runs in any state, without running agents, and
the helpers the route tests share. Tests that need real output run real shell prompts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from projects import storage
from projects.models import Project
from runs.models import TERMINAL_STATUSES, Attempt, LogChunk, Run, RunStatus
from tasks.models import Task
from tests.conftest import attempt_finished, create_task, run_finished

# Each header (or cookie) that marks a browser context, as the Django test client sends it.
BROWSER_CONTEXTS: dict[str, dict[str, str]] = {
    "sec-fetch-site": {"HTTP_SEC_FETCH_SITE": "same-origin"},
    "sec-fetch-mode": {"HTTP_SEC_FETCH_MODE": "cors"},
    "origin": {"HTTP_ORIGIN": "http://127.0.0.1:14355"},
    "referer": {"HTTP_REFERER": "http://127.0.0.1:14355/"},
    "web-ui": {"HTTP_X_CONDUCTOR_CLIENT": "web-ui"},
    "session": {"HTTP_COOKIE": "sessionid=abc123"},
}


def assert_rfc3339_utc(value: object) -> datetime:
    assert isinstance(value, str) and value.endswith("Z") and "T" in value, value
    return datetime.fromisoformat(value.removesuffix("Z") + "+00:00")


def make_task(project: Project, task_id: str, **fields: Any) -> Task:
    defaults = {"prompt": f"echo {task_id}", "agent_type": "shell"}
    task = Task.objects.create(project=project, task_id=task_id, **{**defaults, **fields})
    folder = storage.task_dir(project.id, task_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "TASK.md").write_text(task.prompt)
    (folder / "DONE").unlink(missing_ok=True)
    return task


def make_run(
    task: Task,
    status: str = RunStatus.SUCCESS,
    *,
    exit_code: int | None = None,
    kind: str = Run.Kind.AGENT,
    age: timedelta = timedelta(0),
    stdout: str = "",
    attempt: Attempt | None = None,
) -> Run:
    """A run in `status`, ended `age` ago when terminal, with `stdout` stored as its log."""
    now = timezone.now() - age
    ended = status in TERMINAL_STATUSES
    if attempt is None:
        # An active attempt has a heartbeat, or a reaper of another test's server thread may
        # crash it mid-test.
        attempt = Attempt.objects.create(
            task=task,
            agent=task.agent_type,
            status=status,
            admitted_at=now,
            heartbeat_at=None if ended else timezone.now(),
        )
    if exit_code is None and ended:
        exit_code = 0 if status == RunStatus.SUCCESS else 1
    run = Run.objects.create(
        attempt=attempt,
        kind=kind,
        status=status,
        prompt=task.prompt,
        exit_code=exit_code,
        started_at=now if status != RunStatus.QUEUED else None,
        ended_at=now if ended else None,
        log_bytes=len(stdout.encode()),
        log_lines=stdout.count("\n"),
    )
    Run.objects.filter(id=run.id).update(created_at=now)
    if stdout:
        LogChunk.objects.create(
            run=run,
            seq=1,
            stream="stdout",
            text=stdout,
            line_count=stdout.count("\n"),
            created_at=now,
        )
    run.refresh_from_db()
    return run


def finished_task(api: APIClient, task_id: str, prompt: str, **fields: Any) -> str:
    """A real task whose whole attempt has ended; returns its run id."""
    return _finished_run(api, task_id, prompt, **fields).id


def finished_attempt(api: APIClient, prompt: str, task_id: str = "t1") -> Attempt:
    """A real task's attempt, once it ended."""
    return _finished_run(api, task_id, prompt).attempt


def _finished_run(api: APIClient, task_id: str, prompt: str, **fields: Any) -> Run:
    run = run_finished(create_task(api, task_id=task_id, prompt=prompt, **fields)["run_id"])
    run.attempt = attempt_finished(run.attempt_id)
    return run
