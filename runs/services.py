"""State changes of Runs and Attempts. Each is a conditional update: the row changes only
from the status the caller expects, so a redelivered task or a second worker is harmless.
Deleting runs (one, or garbage collection's many) with their folders is here too."""

from __future__ import annotations

import logging
import time
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from conductor_site.errors import DomainError
from conductor_site.locks import row_lock
from projects import storage
from runs.events import attempt_status_changed, run_changed
from runs.files import run_folder
from runs.models import (
    ACTIVE_STATUSES,
    OPERATION_STALE,
    TERMINAL_STATUSES,
    Attempt,
    Run,
    RunStatus,
    Worker,
)
from runs.processes import run_processes_kill
from runs.signals import attempt_changed

log = logging.getLogger(__name__)


def run_create(attempt: Attempt, kind: str, prompt: str, previous_run: Run | None = None) -> Run:
    """A new queued run; live subscribers hear of it once it is committed."""
    with transaction.atomic():
        run = Run.objects.create(
            attempt=attempt,
            kind=kind,
            prompt=prompt,
            status=RunStatus.QUEUED,
            previous_run=previous_run,
        )
        run_changed(run, "created")
    return run


def run_claim(run: Run, worker: str, cwd: str) -> bool:
    """queued/created → running; False when the run was stopped (or taken) meanwhile. Either
    way `run` is re-read, so a caller that lost reports the status the run has now."""
    now = timezone.now()
    with transaction.atomic():  # the change and its event commit together
        claimed = Run.objects.filter(
            id=run.id, status__in=[RunStatus.CREATED, RunStatus.QUEUED]
        ).update(status=RunStatus.RUNNING, worker=worker, cwd=cwd, started_at=now, heartbeat_at=now)
        run.refresh_from_db()
        if claimed == 1:
            run_changed(run, "started")
    return claimed == 1


def run_finish(run: Run, status: str, **fields: object) -> bool:
    """running → a terminal status. False when something else (the reaper) ended it first."""
    with transaction.atomic():
        done = Run.objects.filter(id=run.id, status=RunStatus.RUNNING).update(
            status=status, ended_at=timezone.now(), **fields
        )
        run.refresh_from_db()
        if done == 1:
            run_changed(run, "updated")
    return done == 1


def run_url_record(run_id: str, url: str) -> bool:
    """A running dev server's first URL; False when it has one already (the other stream's
    reader got there first) or ended meanwhile."""
    with transaction.atomic():
        done = Run.objects.filter(id=run_id, status=RunStatus.RUNNING, url="").update(url=url)
        if done:
            run_changed(Run.objects.select_related("attempt__task").get(id=run_id), "updated")
    return done == 1


def run_cancel_unstarted(run: Run, status: str, error_summary: str) -> int:
    """created/queued → `status`; 0 when it started (or ended) meanwhile."""
    with transaction.atomic():
        done = Run.objects.filter(
            id=run.id, status__in=[RunStatus.CREATED, RunStatus.QUEUED]
        ).update(status=status, error_summary=error_summary, ended_at=timezone.now())
        if done:
            run.refresh_from_db()
            run_changed(run, "updated")
    return done


def attempt_finish(attempt: Attempt, status: str, error_summary: str = "") -> None:
    """running → a terminal status; an attempt left in a run-only status (`queued`) could
    never end, and no delete could pass it."""
    if status not in TERMINAL_STATUSES:
        raise ValueError(f"an attempt cannot end {status!r}")
    with transaction.atomic():
        done = Attempt.objects.filter(id=attempt.id, status=RunStatus.RUNNING).update(
            status=status, error_summary=error_summary
        )
        if done:
            attempt_status_changed(attempt.id, "updated")


def attempt_stop_unstarted(attempt_id: str, reason: str) -> bool:
    """created → stopped: its start, waiting for the planner or already sent to a worker,
    then finds nothing to claim."""
    with transaction.atomic():
        done = Attempt.objects.filter(id=attempt_id, status=RunStatus.CREATED).update(
            status=RunStatus.STOPPED, error_summary=reason
        )
        if done:
            attempt_status_changed(attempt_id, "updated")
    return done == 1


def attempt_claim(attempt_id: str, worker: str) -> bool:
    """created → running on `worker`; False for a duplicate delivery, or an attempt stopped
    before it started."""
    with transaction.atomic():  # the change and its event commit together
        claimed = Attempt.objects.filter(id=attempt_id, status=RunStatus.CREATED).update(
            status=RunStatus.RUNNING, worker=worker, heartbeat_at=timezone.now()
        )
        if claimed:
            attempt_status_changed(attempt_id, "started")
    return claimed == 1


def attempt_resume(attempt: Attempt) -> bool:
    """An ended attempt → running again, for a follow-up in its worktree; False while it is
    busy (running, not started, or being landed: `attempt_operation_begin`)."""
    with transaction.atomic():
        resumed = (
            Attempt.objects.filter(id=attempt.id, operation="")
            .exclude(status__in=[RunStatus.RUNNING, RunStatus.CREATED])
            .update(status=RunStatus.RUNNING, heartbeat_at=timezone.now(), error_summary="")
        )
        if resumed:
            attempt_status_changed(attempt.id, "started")
    return resumed == 1


def attempt_worktree_record(
    attempt: Attempt, path: str, branch: str, base: str, base_commit: str
) -> None:
    """The worktree `runs.workspace` made: its path, its branch, and what it started from."""
    Attempt.objects.filter(id=attempt.id).update(
        worktree_path=path,
        branch=branch,
        base_branch=base,
        target_branch=base,
        base_commit=base_commit,
    )
    attempt.refresh_from_db()


# The worktree's lifecycle (runs/workspace.py): archived, made again, measured.


def attempt_worktree_archived(attempt: Attempt, reason: str) -> None:
    """Its worktree is gone (the branch kept): nothing left on disk; the event says why."""
    now = timezone.now()
    with transaction.atomic():
        Attempt.objects.filter(id=attempt.id).update(
            worktree_archived_at=now,
            worktree_archived_reason=reason,
            worktree_disk_bytes=0,
            worktree_measured_at=now,
        )
        attempt_status_changed(attempt.id, "worktree_archived")
    attempt.refresh_from_db()


def attempt_worktree_restored(attempt: Attempt) -> None:
    with transaction.atomic():
        Attempt.objects.filter(id=attempt.id).update(
            worktree_archived_at=None, worktree_archived_reason=""
        )
        attempt_status_changed(attempt.id, "worktree_restored")
    attempt.refresh_from_db()


def attempt_worktree_measured(attempt: Attempt, disk_bytes: int) -> None:
    """What the owning worker found on disk, stored so that any server can tell."""
    Attempt.objects.filter(id=attempt.id).update(
        worktree_disk_bytes=disk_bytes, worktree_measured_at=timezone.now()
    )


def attempt_admit(attempt: Attempt) -> bool:
    """Waiting → admitted (`admitted_at`); False when another planner admitted it first."""
    return (
        Attempt.objects.filter(id=attempt.id, admitted_at__isnull=True).update(
            admitted_at=timezone.now()
        )
        == 1
    )


def attempt_fail_blocked(attempt: Attempt, reason: str) -> bool:
    """created → failed, with its runs that never started, when it can never be admitted (a
    dependency failed); False when it started or ended meanwhile."""
    with transaction.atomic():
        updated = Attempt.objects.filter(id=attempt.id, status=RunStatus.CREATED).update(
            status=RunStatus.FAILED, error_summary=reason, admitted_at=timezone.now()
        )
        if updated:
            attempt_status_changed(attempt.id, "updated")
    if updated:
        for run in attempt.runs.filter(status__in=[RunStatus.CREATED, RunStatus.QUEUED]):
            run_cancel_unstarted(run, RunStatus.FAILED, reason)
    return updated == 1


def run_stop(run: Run) -> str:
    """Ask a run to stop, wherever it runs. A run not started yet is stopped at once, and
    so is its attempt if that has not started either (the agent run is what it is for);
    a running one is signalled by its worker's housekeeping (SIGINT → SIGTERM → SIGKILL)."""
    now = timezone.now()
    with transaction.atomic():
        unstarted = Run.objects.filter(
            id=run.id, status__in=[RunStatus.CREATED, RunStatus.QUEUED]
        ).update(
            status=RunStatus.STOPPED,
            stop_requested_at=now,
            ended_at=now,
            error_summary="stopped before it started",
        )
        if unstarted and run.kind == Run.Kind.AGENT:
            attempt_stop_unstarted(run.attempt_id, "stopped before it started")
        if not unstarted:
            Run.objects.filter(
                id=run.id, status=RunStatus.RUNNING, stop_requested_at__isnull=True
            ).update(stop_requested_at=now)
        run.refresh_from_db()
        if unstarted:
            run_changed(run, "updated")
    return run.status


def stop_deadline() -> float:
    """A monotonic time by which a stop has reached the process: the owning worker (maybe in
    another process) notices at its next heartbeat, then escalates SIGINT → SIGTERM → SIGKILL
    a grace period apart."""
    conf = settings.CONDUCTOR
    return (
        time.monotonic()
        + float(conf["HEARTBEAT_SECONDS"])
        + 3 * float(conf["STOP_GRACE_SECONDS"])
        + 2
    )


def runs_await_end(run_ids: list[str]) -> None:
    """Wait (bounded) while the owning workers, maybe in other processes, end stopped runs
    (their stops escalate together)."""
    deadline = stop_deadline()
    running = Run.objects.filter(id__in=run_ids, status=RunStatus.RUNNING)
    while run_ids and running.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def stop_requested(run_ids: list[str]) -> list[str]:
    if not run_ids:
        return []
    return list(
        Run.objects.filter(id__in=run_ids, stop_requested_at__isnull=False).values_list(
            "id", flat=True
        )
    )


def heartbeat(run_ids: list[str], attempt_ids: list[str], worker: str = "") -> None:
    """The runs and attempts a worker keeps alive, and the worker itself (a process that runs
    no work, the production server, passes no name)."""
    now = timezone.now()
    if worker:
        Worker.objects.update_or_create(name=worker, defaults={"heartbeat_at": now})
    if run_ids:
        Run.objects.filter(id__in=run_ids, status=RunStatus.RUNNING).update(heartbeat_at=now)
    if attempt_ids:
        Attempt.objects.filter(id__in=attempt_ids, status=RunStatus.RUNNING).update(
            heartbeat_at=now
        )


def reap_stale() -> int:
    """Runs and attempts whose worker stopped heartbeating become `crashed`."""
    timeout = float(settings.CONDUCTOR["HEARTBEAT_TIMEOUT_SECONDS"])
    cutoff = timezone.now() - timedelta(seconds=timeout)
    stale = Q(status=RunStatus.RUNNING) & (Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at=None))
    reaped = 0
    for attempt in Attempt.objects.filter(stale):
        reaped += crash_attempt(
            attempt, f"worker '{attempt.worker}' stopped heartbeating for over {timeout:.0f}s"
        )
    for run in Run.objects.filter(stale).exclude(attempt__status=RunStatus.RUNNING):
        reaped += _crash_run(run, f"worker '{run.worker}' stopped heartbeating")
    return reaped


def recover_worker(worker: str) -> int:
    """On start: whatever this worker left running in an earlier life is `crashed`, and
    every process its runs left behind is killed."""
    recovered = 0
    for attempt in Attempt.objects.filter(worker=worker, status=RunStatus.RUNNING):
        reason = f"worker '{worker}' restarted during this attempt"
        recovered += crash_attempt(attempt, reason, local=True)
    for run in Run.objects.filter(worker=worker, status=RunStatus.RUNNING):
        recovered += _crash_run(run, f"worker '{worker}' restarted during this run", local=True)
    return recovered


def recover_embedded() -> int:
    """Embedded mode keeps Celery's queue in memory. On start, what was running is `crashed`;
    what was admitted but never started goes back to the planner, which enqueues it again."""
    Attempt.objects.filter(status=RunStatus.CREATED).update(admitted_at=None)
    recovered = 0
    for attempt in Attempt.objects.filter(status=RunStatus.RUNNING):
        reason = "the server stopped before this attempt finished"
        recovered += crash_attempt(attempt, reason, local=True)
    for run in Run.objects.filter(status=RunStatus.QUEUED, attempt__status__in=TERMINAL_STATUSES):
        recovered += _crash_run(run, "the server stopped before this run started")
    for run in Run.objects.filter(status=RunStatus.RUNNING):  # a dev server: no attempt ran
        recovered += _crash_run(run, "the server stopped during this run", local=True)
    return recovered


def crash_attempt(attempt: Attempt, reason: str, local: bool = False) -> int:
    """The attempt and its active runs become `crashed`; `local`: their pids are of this
    host (see `_crash_run`)."""
    with transaction.atomic():
        done = Attempt.objects.filter(id=attempt.id, status=attempt.status).update(
            status=RunStatus.CRASHED, error_summary=reason
        )
        if done:
            attempt_status_changed(attempt.id, "updated")
    for run in attempt.runs.filter(status__in=ACTIVE_STATUSES):
        _crash_run(run, reason, local)
    return done


def _crash_run(run: Run, reason: str, local: bool = False) -> int:
    """Kill what the run left (its session too when `local`: the caller knows the recorded
    pid is of this host), then mark it `crashed`."""
    if run.status == RunStatus.RUNNING:
        run_processes_kill(run.id, leader=run.pid if local else None)
    with transaction.atomic():
        done = Run.objects.filter(id=run.id, status=run.status).update(
            status=RunStatus.CRASHED, error_summary=reason, ended_at=timezone.now()
        )
        if done:
            run.refresh_from_db()
            run_changed(run, "updated")
    return done


# Deleting.


class Busy(Exception):
    """Something still runs (HTTP 409); `details` go to the error's details."""

    def __init__(self, message: str, **details: str) -> None:
        super().__init__(message)
        self.details = details


def run_delete(run: Run) -> None:
    if run.status in ACTIVE_STATUSES:
        raise Busy(f"run {run.id!r} is {run.status}: stop it first", status=run.status)
    folder = run_folder(run)
    with transaction.atomic():
        run.delete()
        storage.folder_remove(folder)


def runs_delete(runs: list[Run]) -> None:
    folders = [run_folder(run) for run in runs]
    ids = [run.id for run in runs]
    with transaction.atomic():
        for start in range(0, len(ids), 500):
            Run.objects.filter(id__in=ids[start : start + 500]).delete()
    for folder in folders:
        with suppress(OSError):
            storage.folder_remove(folder)


def attempt_stop(attempt: Attempt) -> list[str]:
    """Stop everything the attempt runs, and the attempt itself if it has not started; the
    ids of the runs asked to stop (their workers signal them, see `run_stop`)."""
    attempt_stop_unstarted(attempt.id, "stopped before it started")
    active = Run.objects.filter(attempt=attempt, status__in=ACTIVE_STATUSES).order_by("created_at")
    stopped = []
    for run in active:
        run_stop(run)
        stopped.append(run.id)
    return stopped


# Landing (runs/landing.py): one operation at a time per attempt, and what landing records.


class AttemptNotFound(DomainError):
    status_code = 404


def attempt_locked(attempt_id: str) -> Attempt:
    """The attempt's row, held until the transaction ends (SQLite: its transaction holds the
    database already); AttemptNotFound when it is gone, its task deleted meanwhile (a delete
    holds the row from its first statement: a change waits for it, then finds nothing)."""
    attempt = row_lock(Attempt.objects.filter(id=attempt_id)).first()
    if attempt is None:
        raise AttemptNotFound(f"attempt {attempt_id!r} not found (its task was deleted)")
    return attempt


def attempt_operation_begin(attempt_id: str, operation: str) -> datetime | None:
    """Take the attempt's one operation slot, from any process: a conditional update, so of
    two at once one wins. Refused while an agent or script may run in its worktree
    (created/running). A slot held past OPERATION_STALE (its process died) is taken over.
    Returns the token to give back to `attempt_operation_end`, None when refused."""
    now = timezone.now()
    free = Q(operation="") | Q(operation_started_at__lt=now - OPERATION_STALE)
    taken = (
        Attempt.objects.filter(free, id=attempt_id)
        .exclude(status__in=[RunStatus.CREATED, RunStatus.RUNNING])
        .update(operation=operation, operation_started_at=now)
    )
    return now if taken == 1 else None


def attempt_operation_end(attempt_id: str, operation: str, token: datetime) -> None:
    Attempt.objects.filter(id=attempt_id, operation=operation, operation_started_at=token).update(
        operation="", operation_started_at=None
    )


def attempt_merged(attempt: Attempt, *, commit: str, strategy: str) -> None:
    """Record the merge."""
    _attempt_record(
        attempt, "merged", merge_commit=commit, merge_strategy=strategy, merged_at=timezone.now()
    )


def attempt_rebased(attempt: Attempt, *, base_commit: str) -> None:
    """After a rebase the attempt starts from the target's commit it was rebased onto."""
    _attempt_record(attempt, "rebased", base_commit=base_commit)


def attempt_target_set(attempt: Attempt, *, target_branch: str) -> None:
    """What the attempt will merge into (and be compared with) from now on."""
    _attempt_record(attempt, "target_changed", target_branch=target_branch)


def attempt_branch_renamed(attempt: Attempt, *, branch: str) -> None:
    _attempt_record(attempt, "branch_renamed", branch=branch)


def attempt_pr_record(attempt: Attempt, *, url: str, number: int, state: str) -> None:
    _attempt_record(attempt, "pr", pr_url=url, pr_number=number, pr_state=state)


def _attempt_record(attempt: Attempt, change: str, **fields: Any) -> None:
    """Store `fields` on the attempt and refresh it; the board hears of the `change`
    (`attempt_changed`) in the same transaction."""
    with transaction.atomic():
        Attempt.objects.filter(id=attempt.id).update(**fields)
        attempt.refresh_from_db()
        attempt_changed.send(sender=Attempt, attempt=attempt, change=change)


# Iterating (runs/iterate.py): a retry sets later runs aside and starts again; a file deleted.


def attempt_retried(
    attempt: Attempt, dropped: list[Run], prompt: str, resume: Run | None
) -> tuple[Run, list[str]]:
    """Mark `dropped` set aside (kept, hidden by default, never resumed) and make the agent
    run that starts again, resuming `resume`'s session (None: a fresh one), in one
    transaction; the new run and the ids dropped now (one dropped already stays as it was)."""
    now = timezone.now()
    with transaction.atomic():
        ids = []
        for run in dropped:
            if Run.objects.filter(id=run.id, dropped_at=None).update(dropped_at=now):
                run.dropped_at = now
                run_changed(run, "dropped")
                ids.append(run.id)
        run = run_create(attempt, Run.Kind.AGENT, prompt, previous_run=resume)
        attempt_status_changed(attempt.id, "retried")
    return run, ids


def attempt_file_deleted(attempt: Attempt) -> None:
    """The attempt's branch has a new commit (a file deleted on a user's word)."""
    with transaction.atomic():
        attempt_status_changed(attempt.id, "file_deleted")
