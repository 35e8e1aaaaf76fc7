"""Celery tasks: thin, they take ids and call the pipeline. A vanished row ends them quietly;
an unexpected error ends the attempt `crashed` with the reason, never leaves it running."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from conductor_site.celery import SHARED_QUEUE, worker_queue
from conductor_site.errors import DomainError
from runs import archive, pipeline, services
from runs.models import Attempt, Run
from runs.signals import attempt_finished

log = logging.getLogger(__name__)


@shared_task(name="runs.attempt_start", ignore_result=True)
def attempt_start(attempt_id: str) -> None:
    try:
        pipeline.attempt_execute(attempt_id)
    except Attempt.DoesNotExist:
        return
    except Exception as exc:
        log.exception("attempt %s failed inside Conductor", attempt_id)
        _crash(attempt_id, exc)
    _ended(attempt_id)


@shared_task(name="runs.run_followup", ignore_result=True)
def run_followup(run_id: str) -> None:
    attempt_id = Run.objects.filter(id=run_id).values_list("attempt_id", flat=True).first()
    if attempt_id is None:
        return
    try:
        pipeline.followup_execute(run_id)
    except Exception as exc:
        log.exception("follow-up run %s failed inside Conductor", run_id)
        _crash(attempt_id, exc)
    _ended(attempt_id)


@shared_task(name="runs.worktree_retire", ignore_result=True)
def worktree_retire(repo: str, path: str) -> None:
    archive.worktree_retire(repo, path)


@shared_task(name="runs.worktree_archive", ignore_result=True)
def worktree_archive(attempt_id: str, reason: str) -> None:
    """On the owner: archive after a merge, or once idle. A refusal (something runs in it
    again, its path is not a Conductor worktree) keeps the worktree, and is logged."""
    try:
        archive.attempt_worktree_archive(attempt_id, reason=reason)
    except DomainError as exc:
        log.warning("kept the worktree of attempt %s (%s): %s", attempt_id, reason, exc.message)


def _ended(attempt_id: str) -> None:
    """Hand over to whoever listens (the planner: Ralph loop, waiting tasks); never fails the
    task itself."""
    try:
        attempt_finished.send(sender=Attempt, attempt_id=attempt_id)
    except Exception:
        log.exception("after attempt %s: the planner failed", attempt_id)


def _crash(attempt_id: str, exc: Exception) -> None:
    attempt = Attempt.objects.filter(id=attempt_id).first()
    if attempt:
        services.crash_attempt(attempt, f"internal error in Conductor: {exc}")


def enqueue_attempt(attempt: Attempt) -> None:
    """Send the attempt to any worker once the transaction commits."""
    Attempt.objects.filter(id=attempt.id).update(enqueued_at=timezone.now())
    transaction.on_commit(partial(send_attempt, attempt.id))


def enqueue_followup(run: Run, countdown: float = 0) -> None:
    """Follow-ups go to the worker that owns the worktree (shared/DESIGN.md §7)."""
    due = timezone.now() + timedelta(seconds=countdown)
    Run.objects.filter(id=run.id).update(enqueued_at=due)
    transaction.on_commit(partial(send_followup, run, countdown))


def queue_for(attempt: Attempt) -> str:
    """The worker that holds the attempt's worktree (§7), once one claimed it; else any."""
    return worker_queue(attempt.worker) if attempt.worker else SHARED_QUEUE


def send_attempt(attempt_id: str) -> None:
    _send(attempt_start, (attempt_id,), SHARED_QUEUE)


def send_followup(run: Run, countdown: float = 0) -> None:
    _send(run_followup, (run.id,), queue_for(run.attempt), countdown)


def _send(task: Any, args: tuple[str, ...], queue: str, countdown: float = 0) -> None:
    """Hand work to the broker, after the commit: an error here would turn a request that
    succeeded into a 500. While the broker is unreachable, an attempt or follow-up waits in
    the database, admitted and unclaimed, and the reconciler sends it again once the broker
    is back (runs/reconcile.py); a worktree to retire stays (it is kept anyway on error)."""
    try:
        task.apply_async(args=args, queue=queue, countdown=countdown)
    except (OperationalError, OSError) as exc:
        log.warning("could not send %s%s to the broker: %s", task.name, args, exc)


def enqueue_worktree_retire(attempts: Iterable[Attempt]) -> None:
    """Once the deletion commits, each attempt's worktree goes on the worker that made it
    (§7); the attempts are those with a worktree."""
    for attempt in attempts:
        repo = attempt.task.project.project_root
        args = (repo, attempt.worktree_path)
        transaction.on_commit(partial(_send, worktree_retire, args, queue_for(attempt)))


def enqueue_worktree_archive(attempt: Attempt, reason: str) -> None:
    """Archive on the worker that made the worktree, by its pool (a large folder takes a
    while to go: neither a request nor the housekeeping thread waits for it)."""
    transaction.on_commit(
        partial(_send, worktree_archive, (attempt.id, reason), queue_for(attempt))
    )


def remove_worktree_after_merge() -> bool:
    return bool(settings.CONDUCTOR["REMOVE_WORKTREE_AFTER_MERGE"])


def worktree_idle_days() -> float:
    """0: idle worktrees are kept."""
    return float(settings.CONDUCTOR["WORKTREE_IDLE_DAYS"])


IDLE_CHECK_SECONDS = 300.0
_idle_checked = {"at": float("-inf")}


def worktrees_idle_archive(worker: str, *, force: bool = False) -> int:
    """From the worker's housekeeping, every few minutes (`force`: now): its worktrees idle
    past `CONDUCTOR_WORKTREE_IDLE_DAYS` go to its pool to be archived; how many."""
    days = worktree_idle_days()
    now = time.monotonic()
    if days <= 0 or (not force and now - _idle_checked["at"] < IDLE_CHECK_SECONDS):
        return 0
    if not force:
        _idle_checked["at"] = now
    idle = Attempt.objects.filter(id__in=archive.worktrees_idle(worker, days))
    for attempt in idle:
        enqueue_worktree_archive(attempt, "idle")
    return len(idle)
