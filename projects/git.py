"""The one wrapper around the git CLI. Every git call in Conductor goes through `git()`.

Refs and paths that come from users or from a repository go in `operands`, after
`--end-of-options`, so a branch named `--no-checkout` is a (bad) name and never an option.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

FALLBACK_IDENTITY = ("Conductor", "conductor@localhost")


class GitError(Exception):
    """A git command failed; the message carries git's own words."""


class ForeignWorktree(GitError):
    """A worktree's folder is no longer the worktree Conductor made."""


def git(
    repo: str | Path,
    *args: str,
    operands: Sequence[str] = (),
    check: bool = True,
    timeout: float = 120,
    input: str = "",
    env: Mapping[str, str] | None = None,
) -> str:
    out = git_bytes(
        repo, *args, operands=operands, check=check, timeout=timeout, input=input.encode(), env=env
    )
    return out.decode(errors="surrogateescape")  # a path read back is the same bytes again


def git_bytes(
    repo: str | Path,
    *args: str,
    operands: Sequence[str] = (),
    check: bool = True,
    timeout: float = 120,
    input: bytes = b"",
    env: Mapping[str, str] | None = None,
) -> bytes:
    """`git()` for output that is not text: file contents, and `-z` lists whose paths may be
    any bytes. `env` adds to the environment (e.g. `GIT_INDEX_FILE`)."""
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
    if operands:
        args = (*args, "--end-of-options", *operands)
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            env=full_env,
            timeout=timeout,
            input=input,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} timed out after {timeout:.0f}s") from exc
    if check and done.returncode != 0:
        said = (done.stderr or done.stdout).decode(errors="replace").strip()
        message = said or f"exit code {done.returncode}"
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
    found = git(path, "rev-parse", "--verify", "--quiet", operands=[ref], check=False)
    return bool(found.strip())


def branch_name_valid(name: str) -> bool:
    """A name `git branch` would accept (`git check-ref-format --branch`): not an option,
    not `@{-1}` or another shorthand git expands, no `..`, spaces or control characters."""
    if not name or name.startswith("-"):
        return False
    done = git("/", "check-ref-format", "--branch", name, check=False)
    return done.strip() == name


@contextmanager
def worktree_lock(repo: str | Path) -> Iterator[None]:
    """Serialize worktree changes of one repository across threads and processes: two
    concurrent `git worktree add` can read each other's half-made admin folders."""
    fd = os.open(common_dir(repo) / "conductor-worktree.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def commit_of(repo: str | Path, revision: str) -> str:
    """The commit `revision` names; GitError when it names none."""
    found = git(repo, "rev-parse", "--verify", "--quiet", operands=[f"{revision}^{{commit}}"])
    return found.strip()


def worktree_add(repo: str | Path, path: str | Path, branch: str, base: str) -> str:
    """`git worktree add -b` from the commit `base` names (git 2.39 hands the base on to
    `git branch` as it is, where `--no-checkout` would be an option); returns that commit
    (the new worktree's HEAD). If it fails, nothing of it is left: not the half-made folder,
    not its registration in the repo, not the branch it made (one that existed stays)."""
    try:
        start = commit_of(repo, base)
    except GitError as exc:
        raise GitError(f"invalid reference: {base!r} names no commit") from exc
    with worktree_lock(repo):
        existed = branch_exists(repo, branch)
        try:
            git(repo, "worktree", "add", "-b", branch, operands=[str(path), start])
        except GitError:
            _discard(repo, path, None if existed else branch)
            raise
    return start


def worktree_discard(repo: str | Path, path: str | Path, branch: str) -> None:
    """Remove a worktree that holds no work yet, and its branch."""
    with worktree_lock(repo):
        _discard(repo, path, branch)


def _discard(repo: str | Path, path: str | Path, branch: str | None) -> None:
    git(repo, "worktree", "remove", "--force", operands=[str(path)], check=False)
    shutil.rmtree(path, ignore_errors=True)
    git(repo, "worktree", "prune", check=False)
    if branch:
        git(repo, "branch", "-D", operands=[branch], check=False)


def worktree_remove(repo: str | Path, path: str | Path) -> None:
    with worktree_lock(repo):
        git(repo, "worktree", "remove", "--force", operands=[str(path)])


def is_dirty(path: str | Path) -> bool:
    """Changed or untracked (non-ignored) files in the working tree."""
    return bool(git(path, "status", "--porcelain", "--untracked-files=all").strip())


def dirty_and_head(path: str | Path) -> tuple[bool, str]:
    """`is_dirty` and `head_commit` ("" before the first commit) in one git call."""
    lines = git(path, "status", "--porcelain=v2", "--branch", "--untracked-files=all")
    head, dirty = "", False
    for line in lines.splitlines():
        if line.startswith("# branch.oid "):
            head = line.removeprefix("# branch.oid ").replace("(initial)", "")
        dirty = dirty or not line.startswith("# ")
    return dirty, head


def common_dir(repo: str | Path) -> Path:
    """The repository's git dir (a linked worktree's is its main repository's), absolute."""
    return Path(repo, git(repo, "rev-parse", "--git-common-dir").strip()).resolve()


def worktree_check(repo: str | Path, path: str | Path, *, common: Path | None = None) -> None:
    """Raise ForeignWorktree unless `path` is still the top level of one of `repo`'s linked
    worktrees, with the admin dir (`<common dir>/worktrees/<name>`) that points back at it.
    An agent that deletes its worktree's `.git` leaves git to find whatever repository
    encloses the folder (a dotfiles repo at `~`, or the project itself): a commit there would
    take Conductor's data. One that points `.git` (or the folder itself: a symlink) elsewhere
    would commit on another branch. `common` is `common_dir(repo)` when the caller has it
    (one git call less; the checks of one commit step share it)."""
    folder = Path(path).resolve()
    found = git(folder, "rev-parse", "--show-toplevel", "--absolute-git-dir", check=False)
    top, _, admin = found.strip().partition("\n")
    common = common or common_dir(repo)
    ours = bool(top) and Path(top).resolve() == folder and _admin_of(Path(admin), common) == folder
    if ours and not Path(path).is_symlink():
        return
    seen = f"the repository at {top}" if top else "no git repository"
    raise ForeignWorktree(
        f"{folder} is no longer the git worktree Conductor made for {repo}: git finds {seen} "
        "there (was its .git removed or replaced?); nothing was committed"
    )


def _admin_of(admin: Path, common: Path) -> Path | None:
    """The worktree folder an admin dir of `common` was made for (its `gitdir` file, absolute
    or, with `worktree.useRelativePaths`, relative to the admin dir)."""
    if admin.resolve().parent != common / "worktrees":
        return None
    try:
        return (admin / (admin / "gitdir").read_text().strip()).resolve().parent
    except OSError:
        return None


def commit_all(
    path: str | Path, message: str, *, repo: str | Path, common: Path | None = None
) -> str:
    """Stage everything (untracked included, ignored excluded), commit, return the new HEAD;
    only in a worktree `worktree_check` accepts (checked here, right before)."""
    worktree_check(repo, path, common=common)
    git(path, "add", "--all")
    identity: list[str] = []
    if not git(path, "config", "user.email", check=False).strip():
        name, email = FALLBACK_IDENTITY
        identity = ["-c", f"user.name={name}", "-c", f"user.email={email}"]
    git(path, *identity, "commit", "--quiet", "--no-verify", "-F", "-", input=message)
    return head_commit(path)


# Reading an attempt's changes: its diff and its branch status (runs/diffs.py,
# runs/branch_status.py). Paths in what these return are for people to read (undecodable
# bytes shown as `\xNN`); contents are fetched by blob id, never by path, so no path of an
# agent's making is ever opened or followed.


@dataclass(frozen=True)
class Change:
    """One file of `git diff --raw --numstat`; counts are None for a binary file."""

    status: str  # A, M, D, R, C or T (type changed)
    old_path: str | None
    new_path: str | None
    old_mode: str
    new_mode: str
    old_blob: str
    new_blob: str
    additions: int | None
    deletions: int | None
    similarity: int | None


def merge_base(path: str | Path, one: str, other: str) -> str:
    return git(path, "merge-base", operands=[one, other]).strip()


def head_and_index(path: str | Path) -> tuple[str, Path]:
    """The worktree's HEAD commit and where its index file is, in one git call."""
    head, index = git(path, "rev-parse", "HEAD", "--git-path", "index").splitlines()
    return head, Path(path, index)


def working_changes(path: str | Path, base: str, own_index: Path) -> list[Change]:
    """Every change in the working tree at `path` since the commit `base`: committed,
    staged, unstaged and untracked (not ignored), renames and copies found across all of
    them. Staged into a throwaway copy of the worktree's index (`own_index`), so the
    worktree, its index and an agent's own git commands are left alone (its new files become
    loose objects)."""
    with tempfile.TemporaryDirectory(prefix="conductor-diff-") as tmp:
        index = Path(tmp, "index")
        with suppress(FileNotFoundError):
            shutil.copyfile(own_index, index)
        env = {"GIT_INDEX_FILE": str(index)}
        git(path, "add", "--all", env=env)
        raw = git_bytes(
            path,
            *("diff", "--cached", "--raw", "--numstat", "-z", "-M", "-C", "--no-abbrev"),
            *("--no-ext-diff", "--no-textconv", "--ignore-submodules=none"),
            operands=[base],
            env=env,
        )
    return _changes(raw.split(b"\0"))


def _changes(fields: list[bytes]) -> list[Change]:
    """Parse `--raw --numstat -z`: all the raw records, then a numstat record for each."""
    raw: list[tuple[list[str], list[str]]] = []
    at = 0
    while at < len(fields) and fields[at].startswith(b":"):
        meta = fields[at][1:].decode().split(" ")
        count = 2 if meta[4][0] in "RC" else 1
        raw.append((meta, [_shown(f) for f in fields[at + 1 : at + 1 + count]]))
        at += 1 + count
    changes = []
    for meta, names in raw:
        added, deleted, rest = fields[at].split(b"\t", 2)
        at += 1 if rest else 3  # a rename's numstat record puts its two paths after it
        changes.append(_change(meta, names, added.decode(), deleted.decode()))
    return changes


def _change(meta: list[str], names: list[str], added: str, deleted: str) -> Change:
    old_mode, new_mode, old_blob, new_blob, status = meta
    kind = status[0]
    return Change(
        status=kind,
        old_path=None if kind == "A" else names[0],
        new_path=None if kind == "D" else names[-1],
        old_mode=old_mode,
        new_mode=new_mode,
        old_blob=old_blob,
        new_blob=new_blob,
        additions=None if added == "-" else int(added),
        deletions=None if deleted == "-" else int(deleted),
        similarity=int(status[1:]) if kind in "RC" else None,
    )


def _shown(name: bytes) -> str:
    return name.decode(errors="backslashreplace")


def object_sizes(repo: str | Path, blobs: Sequence[str]) -> dict[str, int]:
    """The size of each object that exists, by id (`cat-file --batch-check`)."""
    if not blobs:
        return {}
    listed = git(
        repo, "cat-file", "--batch-check", "--buffer", input="".join(f"{b}\n" for b in blobs)
    )
    sizes = {}
    for line in listed.splitlines():
        blob, kind, *size = line.split(" ")
        if kind == "blob" and size:
            sizes[blob] = int(size[0])
    return sizes


def objects_read(repo: str | Path, blobs: Sequence[str]) -> dict[str, bytes]:
    """The contents of the blobs, by id, in one `cat-file --batch`."""
    if not blobs:
        return {}
    out = git_bytes(
        repo, "cat-file", "--batch", "--buffer", input=b"".join(b.encode() + b"\n" for b in blobs)
    )
    found, at = {}, 0
    while at < len(out):
        end = out.index(b"\n", at)
        blob, kind, *size = out[at:end].decode().split(" ")
        at = end + 1
        if kind == "missing" or not size:
            continue
        length = int(size[0])
        found[blob] = out[at : at + length]
        at += length + 1
    return found


@dataclass(frozen=True)
class WorkingState:
    """`git status` of a worktree, counted."""

    uncommitted: int
    untracked: int
    conflicted: list[str]


CONFLICT_STATES = frozenset({"DD", "AU", "UD", "UA", "DU", "AA", "UU"})


def working_state(path: str | Path) -> WorkingState:
    """Counts from `git status`, without the optional index refresh that could make an
    agent's own git command find the index locked."""
    out = git_bytes(
        path, "--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all"
    )
    fields = out.split(b"\0")
    uncommitted = untracked = 0
    conflicted: list[str] = []
    at = 0
    while at < len(fields) and fields[at]:
        state, name = fields[at][:2].decode(), _shown(fields[at][3:])
        at += 2 if state[0] in "RC" else 1  # a rename is followed by its old path
        if state == "??":
            untracked += 1
        elif state in CONFLICT_STATES:
            conflicted.append(name)
        else:
            uncommitted += 1
    return WorkingState(uncommitted, untracked, conflicted)


def ahead_behind(path: str | Path, head: str, target: str) -> tuple[int, int]:
    """Commits on `head` not on `target`, and on `target` not on `head`."""
    counts = git(path, "rev-list", "--left-right", "--count", operands=[f"{head}...{target}"])
    ahead, behind = counts.split()
    return int(ahead), int(behind)


OPERATION_MARKERS = {
    "rebase-merge": "rebase",
    "rebase-apply": "rebase",
    "MERGE_HEAD": "merge",
    "CHERRY_PICK_HEAD": "cherry_pick",
    "REVERT_HEAD": "revert",
}


def operation_in_progress(path: str | Path) -> str | None:
    """The operation a worktree is in the middle of (stopped on conflicts, or on `edit`),
    from the markers git leaves in its admin folder; None when there is none."""
    args = [arg for marker in OPERATION_MARKERS for arg in ("--git-path", marker)]
    found = git(path, "rev-parse", *args).splitlines()
    for marker, where in zip(OPERATION_MARKERS, found, strict=True):
        if Path(path, where).exists():
            return OPERATION_MARKERS[marker]
    return None
