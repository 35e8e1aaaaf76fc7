"""The one rule of a task's status (CONTRACT.md): pure, it runs no queries, so the planner,
which asks it of the tasks others depend on, and the selectors, which show it, share it
without importing each other for it."""

from __future__ import annotations

from collections.abc import Callable

from runs.models import RunStatus

# Looked up once: reading a member off its enum class costs ~0.2 µs, and the whole task list
# asks this rule of every task.
RUNNING, SUCCESS = RunStatus.RUNNING, RunStatus.SUCCESS
STARTING = (RunStatus.CREATED, RunStatus.QUEUED)
FAILED = (RunStatus.FAILED, RunStatus.CRASHED)


def status_of(
    statuses: list[str], *, waiting: bool, blocked: Callable[[], bool], looping: bool, done: bool
) -> str:
    """The one rule: `running`, `queued`, `blocked`, `completed`, `failed` or `idle`
    (CONTRACT.md), from the agent runs' statuses, newest first; `blocked` is asked only of a
    task that waits for the planner."""
    if RUNNING in statuses:
        return "running"
    if waiting:
        return "blocked" if blocked() else "queued"
    if not statuses:
        return "idle"
    latest = statuses[0]
    if latest in STARTING:
        return "running"
    if latest == SUCCESS and (not looping or done):
        return "completed"
    if latest in FAILED:
        return "failed"
    return "idle"
