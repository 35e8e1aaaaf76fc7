"""Iterating on an attempt's work on a user's word, in its worktree: retrying from one of its
agent runs, and deleting a file. Each runs on the worker that owns the worktree
(`runs.owner.on_owner`) and holds the attempt's one operation slot
(`runs.landing.attempt_operation`), so it is serialized with merges, rebases and the rest.

A retry resets the worktree to the commit the chosen run started from (`head_before`), sets
that run and every later one aside (`dropped_at`: kept, hidden from the run list by default,
never resumed), and starts a new agent run that resumes the session of the last agent run
before the chosen one that was not set aside (none: a fresh session). It refuses a worktree
with uncommitted changes unless `force`; with `force` those changes (tracked and untracked)
are first kept as a commit on top of the old HEAD under `refs/conductor/saved/<attempt>/<n>`,
which the answer names (`git checkout <ref> -- <file>` brings a file back). The commits the
reset takes off the branch are kept under `refs/conductor/retried/<attempt>/<n>`
(`previous_ref`): no reflog expiry or `git gc` ever takes them.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.db.models import Q, QuerySet

from projects import git, storage
from runs import diffs, services
from runs.landing import (
    AttemptBusy,
    LandingConflict,
    LandingRefused,
    attempt_operation,
    attempt_worktree,
)
from runs.models import ACTIVE_STATUSES, Attempt, Run
from runs.tasks import enqueue_followup

SAVED_REFS = "refs/conductor/saved"
RETRIED_REFS = "refs/conductor/retried"
PATH_MAX_CHARS = 4096


class RunNotFound(LandingRefused):
    status_code = 404


class FileMissing(LandingRefused):
    status_code = 404


@dataclass(frozen=True)
class Retried:
    run_id: str  # the new agent run
    reset_to: str  # the commit the worktree was reset to (the chosen run's head_before)
    previous_head: str  # the branch's commit before the reset
    previous_ref: str  # the ref keeping previous_head's commits ("" when none were dropped)
    resumed_run_id: str | None  # whose agent session the new run resumes
    dropped_run_ids: list[str]
    saved_ref: str  # where the uncommitted changes were kept ("" when there were none)


@dataclass(frozen=True)
class Deleted:
    path: str
    commit: str  # the branch's new commit ("" when the file was not tracked: nothing to commit)


# Retrying from a run


def attempt_retry(
    attempt_id: str, *, run_id: str, prompt: str = "", force: bool = False
) -> Retried:
    """Reset the worktree to where the agent run `run_id` started, set it and the runs after
    it aside, and start again with `prompt` (that run's own when empty)."""
    with attempt_operation(attempt_id, "retry") as attempt:
        chosen = _retry_point(attempt, run_id)
        path = attempt_worktree(attempt)
        _refuse_in_progress(path)
        saved = _dirty_saved(attempt, path, force)
        previous = git.head_commit(path)
        kept = _dropped_kept(attempt, previous, chosen.head_before)
        git.hard_reset(path, chosen.head_before)
        later = list(_from(attempt.runs.select_related("attempt__task"), chosen))
        resume = _session_before(attempt, chosen)
        run, dropped = services.attempt_retried(attempt, later, prompt or chosen.prompt, resume)
        diffs.snapshot_store(attempt)
    enqueue_followup(run)  # once the slot is free: the run resumes the attempt when it starts
    resumed = resume.id if resume else None
    return Retried(run.id, chosen.head_before, previous, kept, resumed, dropped, saved)


def _retry_point(attempt: Attempt, run_id: str) -> Run:
    """The agent run to go back to: this attempt's, not set aside, with a recorded start."""
    run = attempt.runs.filter(id=run_id, kind=Run.Kind.AGENT).first()
    if run is None:
        raise RunNotFound(f"attempt {attempt.id} has no agent run {run_id!r}", reason="run")
    _refuse_active(attempt, "retry")
    if run.dropped_at is not None:
        raise LandingConflict(
            f"run {run_id} was set aside by an earlier retry: retry from a run that was not",
            reason="dropped",
        )
    if not run.head_before:
        raise LandingConflict(
            f"run {run_id} has no recorded commit it started from, so there is nothing to "
            "reset to: retry from a later run, or start a new attempt",
            reason="no_head_before",
        )
    return run


def _refuse_active(attempt: Attempt, what: str) -> None:
    """A waiting follow-up counts: it would start on a worktree changed under it."""
    if attempt.runs.filter(status__in=ACTIVE_STATUSES).exists():
        raise AttemptBusy(
            f"attempt {attempt.id} has a run that is active or waiting to start: wait for it "
            f"to end, or stop it (POST /api/v1/attempts/{attempt.id}/stop), then {what}",
            reason="busy",
        )


def _from(runs: QuerySet[Run], chosen: Run) -> QuerySet[Run]:
    """`runs` from `chosen` on, in the order they ran (never started: in the order made)."""
    after = Q(started_at__gte=chosen.started_at) if chosen.started_at else Q()
    unstarted = Q(started_at=None, created_at__gte=chosen.created_at)
    return runs.filter(after | unstarted)


def _session_before(attempt: Attempt, chosen: Run) -> Run | None:
    """The last agent run before `chosen` that was not set aside: its session is resumed."""
    earlier = attempt.runs.filter(kind=Run.Kind.AGENT, dropped_at=None).exclude(id=chosen.id)
    if chosen.started_at:
        earlier = earlier.filter(started_at__lt=chosen.started_at)
    return earlier.exclude(started_at=None).order_by("-started_at", "-created_at").first()


def _refuse_in_progress(path: str) -> None:
    if operation := git.operation_in_progress(path):
        raise LandingConflict(
            f"a {operation} is in progress in {path}: continue or abort it "
            "(its attempt's conflicts/abort), then retry",
            reason="in_progress",
            op=operation,
        )


def _dirty_saved(attempt: Attempt, path: str, force: bool) -> str:
    """Refuse uncommitted changes unless `force`; with it, keep them under a new ref of the
    attempt's and return its name ("" when the worktree was clean)."""
    changed = git.changed_paths(path)
    if not changed:
        return ""
    if not force:
        raise LandingConflict(
            f"the worktree {path} has uncommitted changes ({', '.join(changed[:10])}): commit "
            "or discard them, or retry with force to keep them under a ref first",
            reason="dirty",
            files=changed[:200],
        )
    message = f"Uncommitted work of attempt {attempt.id}, kept before a retry\n"
    return _ref_keep(attempt, SAVED_REFS, git.working_tree_commit(path, message))


def _dropped_kept(attempt: Attempt, previous: str, reset_to: str) -> str:
    """The commits the reset takes off the branch, kept under a ref of the attempt's: the
    reflog alone kept them, and git expires a reflog's unreachable entries (30 days by
    default; never logged with `core.logAllRefUpdates=false`), then `gc` deletes them."""
    if previous == reset_to:
        return ""
    return _ref_keep(attempt, RETRIED_REFS, previous)


def _ref_keep(attempt: Attempt, refs: str, commit: str) -> str:
    """`commit` under the attempt's next ref below `refs` (`<refs>/<attempt>/<n>`)."""
    repo = attempt.task.project.project_root
    prefix = f"{refs}/{attempt.id}/"
    taken = [ref.removeprefix(prefix) for ref in git.refs_under(repo, prefix)]
    ref = f"{prefix}{max((int(n) for n in taken if n.isdigit()), default=0) + 1}"
    git.ref_create(repo, ref, commit, "conductor: retry")
    return ref


# Deleting a file


def attempt_file_delete(attempt_id: str, *, path: str) -> Deleted:
    """Delete the file (or symlink: never what it points at) `path`, relative to the worktree,
    and commit `Delete <path>` on the attempt's branch."""
    name = _worktree_relative(path)
    with attempt_operation(attempt_id, "delete_file") as attempt:
        _refuse_active(attempt, "delete")
        root = attempt_worktree(attempt)
        tracked = git.is_tracked(root, name)
        _unlink(Path(root), name)
        commit = ""
        if tracked:
            repo = attempt.task.project.project_root
            commit = git.commit_paths(root, f"Delete {name}\n", [name], repo=repo)
            services.attempt_file_deleted(attempt)
        diffs.snapshot_store(attempt)
    return Deleted(name, commit)


def _worktree_relative(path: str) -> str:
    """`path` as a plain relative path inside a worktree, else LandingRefused (400): no NUL,
    not absolute, no `.` or `..` part, nothing inside `.git`."""
    if not path or len(path) > PATH_MAX_CHARS or "\0" in path:
        raise LandingRefused(
            "path must be a non-empty relative path without NUL bytes", reason="path"
        )
    if path.startswith("/"):
        raise LandingRefused(
            f"path {path!r} is absolute: give it relative to the worktree", reason="path"
        )
    parts = PurePosixPath(path).parts
    if any(part in ("..", ".") for part in path.split("/")) or ".git" in parts:
        raise LandingRefused(f"path {path!r} leaves the worktree or enters .git", reason="path")
    return posixpath.normpath(path)


def _unlink(root: Path, name: str) -> None:
    """Remove `root/name` through no symlink (a symlinked folder on the way is refused)."""
    try:
        storage.file_unlink(root / name, root=root)
    except storage.PathRefused as exc:
        raise LandingRefused(
            f"path {name!r} goes through a symlink: {exc.strerror}", reason="path"
        ) from exc
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise FileMissing(f"no file {name!r} in the worktree", reason="missing") from exc
    except IsADirectoryError as exc:
        raise LandingRefused(f"{name!r} is a folder: delete its files", reason="folder") from exc
