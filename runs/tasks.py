"""Celery tasks: thin, they take ids and call the pipeline. A vanished row ends them quietly;
an unexpected error ends the attempt `crashed` with the reason, never leaves it running."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import Any

from celery import shared_task
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from conductor_site.celery import SHARED_QUEUE, worker_queue
from runs import pipeline, services, workspace
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
    workspace.worktree_retire(repo, path)


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
