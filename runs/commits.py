"""One commit of an attempt, read where its worktree is: what the commit says (`commit-info`)
and how it stands against the attempt's HEAD (`commit-compare`).

The commit is named by the caller, so it is hostile: the route lets through only an object
name in hex or a valid ref name (`SHA_RE`, `git.branch_name_valid`), git gets it only after
`--end-of-options`, and a ref must be in the attempt's own history, so these reads never
become a way to read any other branch of the repository by name.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

from conductor_site.errors import DomainError
from projects import git
from runs.models import Attempt
from runs.selectors import rfc3339

SHA_RE = re.compile(r"^[0-9a-fA-F]{4,64}$")


class CommitInfo(TypedDict):
    sha: str
    subject: str
    body: str
    author_name: str
    author_email: str
    date: str | None
    parents: list[str]


class CommitCompare(TypedDict):
    sha: str
    head_commit: str
    commits_ahead: int
    commits_behind: int
    is_ancestor: bool


class CommitUnreadable(DomainError):
    """The attempt has no branch to read (HTTP 409)."""

    status_code = 409


class CommitNotFound(DomainError):
    status_code = 404


def attempt_commit_info(attempt: Attempt, *, sha: str) -> CommitInfo:
    where, head = _head(attempt)
    commit = _commit(attempt, where, head, sha)
    info = git.commit_info(where, commit)
    subject, _, body = info.message.partition("\n")
    name, email, raw_date = info.author
    return {
        "sha": commit,
        "subject": subject.strip(),
        "body": body.strip("\n"),
        "author_name": name,
        "author_email": email,
        "date": _date(raw_date),
        "parents": info.parents,
    }


def attempt_commit_compare(attempt: Attempt, *, sha: str) -> CommitCompare:
    """`commits_ahead`: on HEAD and not in the commit's history; `commits_behind`: the
    reverse (0 when the commit is in HEAD's history)."""
    where, head = _head(attempt)
    commit = _commit(attempt, where, head, sha)
    ahead, behind = git.ahead_behind(where, head, commit)
    return {
        "sha": commit,
        "head_commit": head,
        "commits_ahead": ahead,
        "commits_behind": behind,
        "is_ancestor": behind == 0,
    }


def _head(attempt: Attempt) -> tuple[str, str]:
    """Where to read (the worktree when it is there, else the repository) and HEAD's commit
    (the worktree's, else the branch's)."""
    repo = attempt.task.project.project_root
    if not attempt.branch or not repo:
        raise CommitUnreadable(f"attempt {attempt.id} has no git branch", reason="no_branch")
    present = bool(attempt.worktree_path) and Path(attempt.worktree_path).is_dir()
    if present:
        git.worktree_check(repo, attempt.worktree_path)
        return attempt.worktree_path, git.head_commit(attempt.worktree_path)
    return repo, git.commit_of(repo, f"refs/heads/{attempt.branch}")


def _commit(attempt: Attempt, where: str, head: str, sha: str) -> str:
    try:
        commit = git.commit_of(where, sha)
    except git.GitError as exc:
        raise CommitNotFound(
            f"{sha!r} names no commit in attempt {attempt.id}'s repository"
        ) from exc
    if not SHA_RE.match(sha) and not git.is_ancestor(where, commit, head):
        raise CommitNotFound(f"{sha!r} is not in the history of attempt {attempt.id}'s branch")
    return commit


def _date(raw: str) -> str | None:
    """git's raw `@<unix seconds> <zone>` as RFC 3339 UTC."""
    seconds = raw.lstrip("@").split(" ", 1)[0]
    if not seconds.isdigit():
        return None
    return rfc3339(datetime.fromtimestamp(int(seconds), UTC))
