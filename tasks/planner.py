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
from django.utils import timezone

from runs import services as run_services
from runs.events import attempt_changed
from runs.models import Attempt, RunStatus
from runs.tasks import enqueue_attempt
from tasks.models import Gate, Task

log = logging.getLogger(__name__)

ACTIVE_ATTEMPT = (RunStatus.CREATED, RunStatus.RUNNING)


def gate_locked() -> Gate:
    """The gate row, locked until the end of the current transaction."""
    gate, _ = Gate.objects.select_for_update().get_or_create(id=1)
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
    from tasks.selectors import dependency_status

    failed, pending = [], []
    for dep_id in task.depends_on:
        dep = Task.objects.filter(project_id=task.project_id, task_id=dep_id).first()
        status = dependency_status(dep) if dep else "missing"
        if status == "failed":
            failed.append(dep_id)
        elif status != "completed":
            pending.append(dep_id)
    return Dependencies(failed, pending)


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
    updated = Attempt.objects.filter(id=attempt.id, admitted_at__isnull=True).update(
        admitted_at=timezone.now()
    )
    if updated:
        enqueue_attempt(attempt)


def _fail_blocked(attempt: Attempt, failed: list[str]) -> None:
    reason = f"dependency {', '.join(repr(t) for t in failed)} failed; this task did not start"
    with transaction.atomic():
        updated = Attempt.objects.filter(id=attempt.id, status=RunStatus.CREATED).update(
            status=RunStatus.FAILED, error_summary=reason, admitted_at=timezone.now()
        )
        if updated:
            attempt_changed(attempt.id, "updated")
    if updated:
        for run in attempt.runs.filter(status__in=[RunStatus.CREATED, RunStatus.QUEUED]):
            run_services.run_cancel_unstarted(run, RunStatus.FAILED, reason)


def queue_position(attempt: Attempt | None) -> int:
    """1..N among the waiting attempts, oldest first; 0 when not waiting."""
    if attempt is None or attempt.admitted_at is not None or attempt.status != "created":
        return 0
    earlier = Attempt.objects.filter(
        admitted_at__isnull=True, status=RunStatus.CREATED, created_at__lt=attempt.created_at
    ).count()
    return earlier + 1
