"""The reconciler: the database is the truth for work, the broker only a doorbell.

Every worker's housekeeping and the production server's run `reconcile()` each heartbeat.
It ends what no worker keeps alive (a run or attempt whose heartbeat stopped becomes
`crashed`, even when no worker is left to notice) and sends again what no worker claimed: an
admitted attempt, or a queued follow-up whose attempt is idle, `REQUEUE_SECONDS` after it was
last sent (a broker that was down when it was created, or that lost its queue in a restart).
A second copy is harmless: claims are conditional. The re-send itself is claimed with a
conditional update of `enqueued_at`, so of several reconcilers only one sends each time.
A follow-up can only run on the worker that holds its attempt's worktree: once that worker has
not been seen for the heartbeat timeout, the follow-up fails saying so, instead of waiting.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from runs import services
from runs.models import Attempt, Run, RunStatus, Worker
from runs.tasks import send_attempt, send_followup


def reconcile() -> None:
    services.reap_stale()
    followups_orphaned_fail()
    requeue_unclaimed()


def followups_orphaned_fail() -> int:
    """Fail the queued follow-ups whose worker is gone; returns how many."""
    timeout = float(settings.CONDUCTOR["HEARTBEAT_TIMEOUT_SECONDS"])
    cutoff = timezone.now() - timedelta(seconds=timeout)
    alive = Worker.objects.filter(heartbeat_at__gte=cutoff).values_list("name", flat=True)
    failed = 0
    for run in (
        unclaimed_followups(cutoff).exclude(attempt__worker="").exclude(attempt__worker__in=alive)
    ):
        worker = run.attempt.worker
        failed += services.run_cancel_unstarted(
            run,
            RunStatus.FAILED,
            f"worker '{worker}', which holds this attempt's worktree, has not been seen for "
            f"over {timeout:.0f}s: start it again and resume, or start a new attempt "
            "(attach_mode 'attach')",
        )
    return failed


def requeue_unclaimed() -> int:
    """Send again the starts no worker claimed in time; returns how many were sent."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=float(settings.CONDUCTOR["REQUEUE_SECONDS"]))
    sent = 0
    for attempt in unclaimed_attempts(cutoff):
        if _resend_claimed(Attempt, attempt.id, attempt.enqueued_at, now):
            send_attempt(attempt.id)
            sent += 1
    for run in unclaimed_followups(cutoff):
        if _resend_claimed(Run, run.id, run.enqueued_at, now):
            send_followup(run)
            sent += 1
    return sent


def unclaimed_attempts(cutoff: datetime) -> QuerySet[Attempt]:
    """Admitted, not claimed, last sent before `cutoff`."""
    return Attempt.objects.filter(
        Q(enqueued_at__lt=cutoff) | Q(enqueued_at=None, admitted_at__lt=cutoff),
        status=RunStatus.CREATED,
        admitted_at__isnull=False,
    )


def unclaimed_followups(cutoff: datetime) -> QuerySet[Run]:
    """Queued agent runs of attempts that are not busy (follow-ups), last sent (or due)
    before `cutoff`."""
    return (
        Run.objects.filter(
            Q(enqueued_at__lt=cutoff) | Q(enqueued_at=None, created_at__lt=cutoff),
            status=RunStatus.QUEUED,
            kind=Run.Kind.AGENT,
        )
        .exclude(attempt__status__in=[RunStatus.CREATED, RunStatus.RUNNING])
        .select_related("attempt")
    )


def _resend_claimed(
    model: type[Attempt] | type[Run], row_id: str, last: datetime | None, now: datetime
) -> bool:
    """Still unclaimed and nobody re-sent it since we looked: it is ours to send."""
    waiting = RunStatus.CREATED if model is Attempt else RunStatus.QUEUED
    rows = model._default_manager.filter(id=row_id, status=waiting, enqueued_at=last)
    return rows.update(enqueued_at=now) == 1
