"""Where an attempt's branch stands against its target: commits ahead and behind, what is
uncommitted or untracked in its worktree, an operation stopped half-way (a rebase or merge
on conflicts) and its conflicted files, and whether the target moved since the attempt began.

Read from the worktree when it is there; from the branch in the project's repository once
the worktree is gone (nothing can be uncommitted then). Only reads: `git status` runs without
its optional index refresh, so an agent's own git commands never find the index locked.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from conductor_site.errors import DomainError
from projects import git
from runs.models import Attempt


class BranchStatus(TypedDict):
    attempt_id: str
    branch: str
    target_branch: str
    head_commit: str
    target_commit: str
    base_commit: str
    merge_base: str
    commits_ahead: int
    commits_behind: int
    target_moved: bool
    worktree_present: bool
    has_uncommitted_changes: bool
    uncommitted_count: int
    untracked_count: int
    operation_in_progress: str | None
    is_rebase_in_progress: bool
    is_merge_in_progress: bool
    conflicted_files: list[str]


class BranchStatusUnavailable(DomainError):
    """The attempt has no branch to compare (no repository, or its start failed)."""

    status_code = 409


def attempt_branch_status(attempt: Attempt) -> BranchStatus:
    """The status, computed now on this host (the worktree's owner, or any host that sees
    the project's repository once the worktree is gone)."""
    repo = attempt.task.project.project_root
    if not attempt.branch or not repo:
        raise BranchStatusUnavailable(f"attempt {attempt.id} has no git branch")
    target = attempt.target
    present = bool(attempt.worktree_path) and Path(attempt.worktree_path).is_dir()
    try:
        if present:
            git.worktree_check(repo, attempt.worktree_path)
        where, head_ref = (attempt.worktree_path, "HEAD") if present else (repo, attempt.branch)
        return _status(attempt, where, head_ref, target, present)
    except git.GitError as exc:
        raise BranchStatusUnavailable(
            f"cannot read the branch status of attempt {attempt.id}: {exc}", git=str(exc)
        ) from exc


def _status(
    attempt: Attempt, where: str, head_ref: str, target: str, present: bool
) -> BranchStatus:
    head = git.commit_of(where, head_ref)
    try:
        target_commit = git.commit_of(where, target)
    except git.GitError as exc:
        raise git.GitError(f"the target branch {target!r} names no commit") from exc
    ahead, behind = git.ahead_behind(where, head, target_commit)
    state = git.working_state(where) if present else git.WorkingState(0, 0, [])
    operation = (git.operation_in_progress(where) or None) if present else None
    return {
        "attempt_id": attempt.id,
        "branch": attempt.branch,
        "target_branch": target,
        "head_commit": head,
        "target_commit": target_commit,
        "base_commit": attempt.base_commit,
        "merge_base": git.merge_base(where, head, target_commit),
        "commits_ahead": ahead,
        "commits_behind": behind,
        "target_moved": _target_moved(attempt, target, target_commit, behind),
        "worktree_present": present,
        "has_uncommitted_changes": bool(state.uncommitted or state.untracked or state.conflicted),
        "uncommitted_count": state.uncommitted + len(state.conflicted),
        "untracked_count": state.untracked,
        "operation_in_progress": operation,
        "is_rebase_in_progress": operation == "rebase",
        "is_merge_in_progress": operation == "merge",
        "conflicted_files": state.conflicted,
    }


def _target_moved(attempt: Attempt, target: str, target_commit: str, behind: int) -> bool:
    """The target is not where the attempt started from: for the branch it started from,
    compared with that start commit (so a rebase onto the new tip still says so); for a
    target changed since, whether it has commits the branch lacks."""
    if attempt.base_commit and target == attempt.base_branch:
        return target_commit != attempt.base_commit
    return behind > 0
