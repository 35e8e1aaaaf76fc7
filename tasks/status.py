"""The one rule of a task's status (CONTRACT.md): pure, it runs no queries, so the planner,
which asks it of the tasks others depend on, and the selectors, which show it, share it
without importing each other for it."""

from __future__ import annotations

from collections.abc import Callable

from runs.models import RunStatus


def status_of(
    statuses: list[str], *, waiting: bool, blocked: Callable[[], bool], looping: bool, done: bool
) -> str:
    """The one rule: `running`, `queued`, `blocked`, `completed`, `failed` or `idle`
    (CONTRACT.md), from the agent runs' statuses, newest first; `blocked` is asked only of a
    task that waits for the planner."""
    if RunStatus.RUNNING in statuses:
        return "running"
    if waiting:
        return "blocked" if blocked() else "queued"
    if not statuses:
        return "idle"
    latest = statuses[0]
    if latest in (RunStatus.CREATED, RunStatus.QUEUED):
        return "running"
    if latest == RunStatus.SUCCESS and (not looping or done):
        return "completed"
    if latest in (RunStatus.FAILED, RunStatus.CRASHED):
        return "failed"
    return "idle"
