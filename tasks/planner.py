"""Admission control, in the database: who may start now, who waits, who is blocked.

Every attempt is created waiting (`admitted_at` empty). `admit()` walks the waiting attempts
oldest first under the one `Gate` row lock: an attempt whose dependencies failed fails; one whose
dependencies have not completed stays blocked; a root task waits while
`max_concurrent_root_tasks` root attempts are active or while a self-update drains; the rest are
admitted and enqueued when the transaction commits. It runs after every submission and at the
end of every attempt, and each worker's housekeeping runs it too as a safety net.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from conductor_site.locks import row_lock
from runs import services as run_services
from runs.models import Attempt, Run, RunStatus
from runs.tasks import enqueue_attempt
from tasks.models import Gate, Task
from tasks.status import status_of

log = logging.getLogger(__name__)

ACTIVE_ATTEMPT = (RunStatus.CREATED, RunStatus.RUNNING)


def gate_locked() -> Gate:
    """The gate row, locked until the end of the current transaction."""
    gate, _ = row_lock(Gate.objects.all()).get_or_create(id=1)
    return gate


def active_root_attempts() -> int:
    return Attempt.objects.filter(
        admitted_at__isnull=False,
        status__in=ACTIVE_ATTEMPT,
        task__thread_parent__isnull=True,
        task__depends_on=[],
    ).count()


def waiting_attempts() -> list[Attempt]:
    return list(
        Attempt.objects.filter(admitted_at__isnull=True, status=RunStatus.CREATED)
        .select_related("task")
        .order_by("created_at", "id")
    )


@dataclass
class Dependencies:
    failed: list[str]
    pending: list[str]


def dependencies(task: Task) -> Dependencies:
    failed, pending = [], []
    for dep_id in task.depends_on:
        dep = Task.objects.filter(project_id=task.project_id, task_id=dep_id).first()
        status = dependency_status(dep) if dep else "missing"
        if status == "failed":
            failed.append(dep_id)
        elif status != "completed":
            pending.append(dep_id)
    return Dependencies(failed, pending)


def waiting_attempt(task: Task) -> Attempt | None:
    """The task's attempt that the planner has not admitted yet, if any."""
    return task.attempts.filter(admitted_at__isnull=True, status=RunStatus.CREATED).first()


def dependency_status(task: Task) -> str:
    """`tasks.selectors.task_status_of` for a task that another one waits on: while it waits
    for the planner itself it is `queued`, without asking about its own `depends_on`, so a
    chain of dependencies is never followed link by link (that recursed, and a cycle never
    ended)."""
    if waiting_attempt(task) is not None:
        return "queued"
    runs = Run.objects.filter(attempt__task=task, kind=Run.Kind.AGENT)
    return status_of(
        list(runs.order_by("-created_at", "-id").values_list("status", flat=True)),
        waiting=False,
        blocked=lambda: False,
        looping=task.loop is not None,
        done=task.done_at is not None,
    )


def admit() -> list[str]:
    """Admit what may start now; returns the ids of the attempts admitted."""
    admitted: list[str] = []
    with transaction.atomic():
        gate = gate_locked()
        limit = int(settings.CONDUCTOR.get("MAX_CONCURRENT_ROOT_TASKS") or 0)
        active = active_root_attempts()
        for attempt in waiting_attempts():
            deps = dependencies(attempt.task)
            if deps.failed:
                _fail_blocked(attempt, deps.failed)
                continue
            if deps.pending:
                continue
            if attempt.task.is_root:
                if gate.draining or (limit and active >= limit):
                    continue
                active += 1
            _admit(attempt)
            admitted.append(attempt.id)
    return admitted


def _admit(attempt: Attempt) -> None:
    if run_services.attempt_admit(attempt):
        enqueue_attempt(attempt)


def _fail_blocked(attempt: Attempt, failed: list[str]) -> None:
    reason = f"dependency {', '.join(repr(t) for t in failed)} failed; this task did not start"
    run_services.attempt_fail_blocked(attempt, reason)


def queue_position(attempt: Attempt | None) -> int:
    """1..N among the waiting attempts, oldest first; 0 when not waiting."""
    if attempt is None or attempt.admitted_at is not None or attempt.status != "created":
        return 0
    earlier = Attempt.objects.filter(
        admitted_at__isnull=True, status=RunStatus.CREATED, created_at__lt=attempt.created_at
    ).count()
    return earlier + 1


def queue_positions(project_id: str) -> dict[str, int]:
    """The project's waiting tasks and their places in the one queue all projects share,
    counted as `queue_position` counts them (1 + the attempts waiting since earlier)."""
    waiting = (
        Attempt.objects.filter(admitted_at__isnull=True, status=RunStatus.CREATED)
        .order_by("created_at")
        .values_list("created_at", "task__project_id", "task__task_id")
    )
    positions: dict[str, int] = {}
    place, previous = 0, None
    for index, (created, project, task) in enumerate(waiting):
        if created != previous:
            place, previous = index + 1, created
        if project == project_id:
            positions.setdefault(task, place)
    return positions
