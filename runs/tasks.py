"""Celery tasks: thin, they take ids and call the pipeline. A vanished row ends them quietly;
an unexpected error ends the attempt `crashed` with the reason, never leaves it running."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

from celery import shared_task
from django.db import transaction

from runs import pipeline, services
from runs.models import Attempt, Run

log = logging.getLogger(__name__)

SHARED_QUEUE = "conductor"


def worker_queue(worker: str) -> str:
    return f"worker.{worker}"


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
    pipeline.worktree_retire(repo, path)


def _ended(attempt_id: str) -> None:
    """Hand over to the planner (Ralph loop, waiting tasks); never fails the task itself."""
    from tasks.services import attempt_ended

    try:
        attempt_ended(attempt_id)
    except Exception:
        log.exception("after attempt %s: the planner failed", attempt_id)


def _crash(attempt_id: str, exc: Exception) -> None:
    attempt = Attempt.objects.filter(id=attempt_id).first()
    if attempt:
        services.crash_attempt(attempt, f"internal error in Conductor: {exc}")


def enqueue_attempt(attempt: Attempt) -> None:
    transaction.on_commit(lambda: attempt_start.apply_async(args=(attempt.id,), queue=SHARED_QUEUE))


def enqueue_followup(run: Run, countdown: float = 0) -> None:
    """Follow-ups go to the worker that owns the worktree (shared/DESIGN.md §7)."""
    queue = worker_queue(run.attempt.worker) if run.attempt.worker else SHARED_QUEUE
    transaction.on_commit(
        lambda: run_followup.apply_async(args=(run.id,), queue=queue, countdown=countdown)
    )


def enqueue_worktree_retire(attempts: Iterable[Attempt]) -> None:
    """Once the deletion commits, each attempt's worktree goes on the worker that made it
    (§7); the attempts are those with a worktree."""
    for attempt in attempts:
        queue = worker_queue(attempt.worker) if attempt.worker else SHARED_QUEUE
        repo = attempt.task.project.project_root
        send = partial(worktree_retire.apply_async, args=(repo, attempt.worktree_path), queue=queue)
        transaction.on_commit(send)
