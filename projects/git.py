"""The one wrapper around the git CLI. Every git call in Conductor goes through `git()`."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FALLBACK_IDENTITY = ("Conductor", "conductor@localhost")


class GitError(Exception):
    """A git command failed; the message carries git's own words."""


def git(
    repo: str | Path, *args: str, check: bool = True, timeout: float = 120, input: str = ""
) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            input=input,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} timed out after {timeout:.0f}s") from exc
    if check and done.returncode != 0:
        message = (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"
        raise GitError(f"git {' '.join(args[:2])}: {message}")
    return done.stdout


def is_repository(path: str | Path) -> bool:
    try:
        return git(path, "rev-parse", "--is-inside-work-tree").strip() == "true"
    except GitError:
        return False


def is_ignored(path: str | Path) -> bool:
    """The folder `path` is ignored by the work tree that holds it (git would not add it)."""
    try:
        git(path, "check-ignore", "--quiet", ".")
    except GitError:
        return False
    return True


def toplevel(path: str | Path) -> str:
    return git(path, "rev-parse", "--show-toplevel").strip()


def head_commit(path: str | Path) -> str:
    return git(path, "rev-parse", "HEAD").strip()


def current_branch(path: str | Path) -> str:
    """The checked-out branch ('' when HEAD is detached)."""
    return git(path, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip()


def branch_exists(path: str | Path, branch: str) -> bool:
    ref = f"refs/heads/{branch}"
    return bool(git(path, "rev-parse", "--verify", "--quiet", ref, check=False).strip())


def is_branch_name(name: str) -> bool:
    """A name `git check-ref-format --branch` accepts, and never one git would take for an
    option (a leading `-`)."""
    if not name or name.startswith("-"):
        return False
    try:
        git("/", "check-ref-format", "--branch", name)
    except GitError:
        return False
    return True


@contextmanager
def worktree_lock(repo: str | Path) -> Iterator[None]:
    """Serialize worktree changes of one repository across threads and processes: two
    concurrent `git worktree add` can read each other's half-made admin folders."""
    common = Path(repo, git(repo, "rev-parse", "--git-common-dir").strip())
    fd = os.open(common / "conductor-worktree.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def worktree_add(repo: str | Path, path: str | Path, branch: str, base: str) -> None:
    """`git worktree add -b`. If it fails, nothing of it is left: not the half-made folder,
    not its registration in the repo, not the branch it made (one that existed stays)."""
    with worktree_lock(repo):
        existed = branch_exists(repo, branch)
        try:
            git(repo, "worktree", "add", "-b", branch, str(path), base)
        except GitError:
            _discard(repo, path, None if existed else branch)
            raise


def worktree_discard(repo: str | Path, path: str | Path, branch: str) -> None:
    """Remove a worktree that holds no work yet, and its branch."""
    with worktree_lock(repo):
        _discard(repo, path, branch)


def _discard(repo: str | Path, path: str | Path, branch: str | None) -> None:
    git(repo, "worktree", "remove", "--force", str(path), check=False)
    shutil.rmtree(path, ignore_errors=True)
    git(repo, "worktree", "prune", check=False)
    if branch:
        git(repo, "branch", "-D", branch, check=False)


def worktree_remove(repo: str | Path, path: str | Path) -> None:
    with worktree_lock(repo):
        git(repo, "worktree", "remove", "--force", str(path))


def is_dirty(path: str | Path) -> bool:
    """Changed or untracked (non-ignored) files in the working tree."""
    return bool(git(path, "status", "--porcelain", "--untracked-files=all").strip())


def commit_all(path: str | Path, message: str) -> str:
    """Stage everything (untracked included, ignored excluded), commit, return the new HEAD."""
    git(path, "add", "--all")
    identity: list[str] = []
    if not git(path, "config", "user.email", check=False).strip():
        name, email = FALLBACK_IDENTITY
        identity = ["-c", f"user.name={name}", "-c", f"user.email={email}"]
    git(path, *identity, "commit", "--quiet", "--no-verify", "-F", "-", input=message)
    return head_commit(path)
