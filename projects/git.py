"""The one wrapper around the git CLI. Every git call in Conductor goes through `git()`.

Refs and paths that come from users or from a repository go in `operands`, after
`--end-of-options`, so a branch named `--no-checkout` is a (bad) name and never an option.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

FALLBACK_IDENTITY = ("Conductor", "conductor@localhost")

# No hook of the user's runs in Conductor's own commits and rebase steps: git looks for
# `/dev/null/<hook>`, which cannot exist (git's documented way to turn hooks off).
_NO_HOOKS = ("-c", "core.hooksPath=/dev/null")


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
    codes: Collection[int] = (0,),
) -> str:
    """`codes`: the exit codes that are not failures (`merge-tree` exits 1 on conflicts)."""
    out = git_bytes(
        repo,
        *args,
        operands=operands,
        check=check,
        timeout=timeout,
        input=input.encode(),
        env=env,
        codes=codes,
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
    codes: Collection[int] = (0,),
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
    if check and done.returncode not in codes:
        said = (done.stderr or done.stdout).decode(errors="replace").strip()
        message = said or f"exit code {done.returncode}"
        raise GitError(redacted(f"git {_command(args)}: {message}"))
    return done.stdout


def _command(args: Sequence[str]) -> str:
    """The command's name and first argument for its error, past `-c <name>=<value>` and
    other global options."""
    rest = list(args)
    while rest and rest[0].startswith("-"):
        rest = rest[2:] if rest[0] == "-c" else rest[1:]
    return " ".join(rest[:2])


def redacted(text: str) -> str:
    """`text` without the credentials of any URL in it (`https://user:token@host`): git
    prints a remote's URL as it was configured in its errors."""
    return _URL_CREDENTIALS.sub(r"\1***@", text)


_URL_CREDENTIALS = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


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


def worktree_branch(path: str | Path) -> str:
    """The branch the working tree works on: the one checked out or, while a rebase is
    stopped in it (HEAD detached on purpose), the one that rebase moves once it ends; ''
    when HEAD is detached otherwise."""
    return current_branch(path) or branch_being_rebased(path)


def branch_exists(path: str | Path, branch: str) -> bool:
    ref = f"refs/heads/{branch}"
    found = git(path, "rev-parse", "--verify", "--quiet", operands=[ref], check=False)
    return bool(found.strip())


def branch_rename(repo: str | Path, old: str, new: str) -> None:
    """`git branch -m`: the worktree that has `old` checked out follows it to `new`; refused
    (GitError) when `new` exists."""
    git(repo, "branch", "-m", operands=[old, new])


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
    not its registration in the repo, not the branch it made (one that existed stays); what
    was at `path` already (git refuses a folder that is not empty) is not its to remove."""
    try:
        start = commit_of(repo, base)
    except GitError as exc:
        raise GitError(f"invalid reference: {base!r} names no commit") from exc
    with worktree_lock(repo):
        existed = branch_exists(repo, branch)
        occupied = os.path.lexists(path) and (not os.path.isdir(path) or bool(os.listdir(path)))
        try:
            git(repo, "worktree", "add", "-b", branch, operands=[str(path), start])
        except GitError as exc:
            made = not occupied and os.path.lexists(Path(path, ".git"))
            if not occupied:  # else git refused it ("already exists"), and made no worktree
                _discard(repo, path)
            if not existed:
                git(repo, "branch", "-D", operands=[branch], check=False)
            if made:
                raise _hook_failed(repo, path, exc) from exc
            raise
    return start


def _hook_failed(repo: str | Path, path: str | Path, exc: GitError) -> GitError:
    """git fails after making the whole worktree only when the repository's `post-checkout`
    hook exits non-zero; git's own words are then just its progress lines."""
    return GitError(
        f"the repository's post-checkout hook failed after git made the worktree {path}, "
        f"so it was removed again: fix the hook (see {repo}'s core.hooksPath or .git/hooks), "
        f"then start again ({exc})"
    )


def worktree_discard(repo: str | Path, path: str | Path, branch: str) -> None:
    """Remove a worktree that holds no work yet, and its branch."""
    with worktree_lock(repo):
        _discard(repo, path)
        git(repo, "branch", "-D", operands=[branch], check=False)


def _discard(repo: str | Path, path: str | Path) -> None:
    """Remove this one worktree, by its path: its folder, then its registration (git forgets
    a registered worktree whose folder is gone when it is removed by path; `--force` twice
    takes one git left locked). Never `git worktree prune`, which would also forget the
    user's own worktrees whose folders are away for a while (an unmounted disk)."""
    remove = ("worktree", "remove", "--force", "--force")
    git(repo, *remove, operands=[str(path)], check=False)
    if os.path.lexists(path):
        shutil.rmtree(path, ignore_errors=True)
        git(repo, *remove, operands=[str(path)], check=False)


def worktree_remove(repo: str | Path, path: str | Path) -> None:
    """Remove a linked worktree (its folder and registration; a registration whose folder
    is gone is forgotten). `git worktree prune` would also forget the user's own worktrees
    whose folders are missing for a while (an unmounted disk), so it is never run."""
    with worktree_lock(repo):
        git(repo, "worktree", "remove", "--force", operands=[str(path)])


def worktree_add_existing(repo: str | Path, path: str | Path, branch: str) -> None:
    """`git worktree add` of a branch that exists (a worktree made again from its branch)."""
    with worktree_lock(repo):
        git(repo, "worktree", "add", operands=[str(path), branch])


def is_dirty(path: str | Path) -> bool:
    """Changed or untracked (non-ignored) files in the working tree."""
    return bool(git(path, "status", "--porcelain", "--untracked-files=all").strip())


def dirty_head_and_branch(path: str | Path) -> tuple[bool, str, str]:
    """`is_dirty`, `head_commit` ("" before the first commit) and `current_branch` ("" when
    HEAD is detached) in one git call."""
    lines = git(path, "status", "--porcelain=v2", "--branch", "--untracked-files=all")
    head, branch, dirty = "", "", False
    for line in lines.splitlines():
        if line.startswith("# branch.oid "):
            head = line.removeprefix("# branch.oid ").replace("(initial)", "")
        elif line.startswith("# branch.head ") and line != "# branch.head (detached)":
            branch = line.removeprefix("# branch.head ")
        dirty = dirty or not line.startswith("# ")
    return dirty, head, branch


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
    return _commit(path, message)


def _commit(path: str | Path, message: str, *pathspecs: str) -> str:
    """`git commit` of Conductor's own, with hooks off: `--no-verify` skips only pre-commit
    and commit-msg, and the user's prepare-commit-msg would rewrite or abort it, their
    post-commit push it. Returns the new HEAD."""
    options = ("commit", "--quiet", "--no-verify", "-F", "-")
    git(path, *identity(path), *_NO_HOOKS, *options, *pathspecs, input=message)
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


def head_and_index(path: str | Path) -> tuple[str, Path]:
    """The worktree's HEAD commit and where its index file is, in one git call."""
    head, index = git(path, "rev-parse", "HEAD", "--git-path", "index").splitlines()
    return head, Path(path, index)


def working_changes(
    path: str | Path, base: str, own_index: Path, paths: Sequence[str] | None = None
) -> list[Change]:
    """Every change in the working tree at `path` since the commit `base`: committed,
    staged, unstaged and untracked (not ignored), renames and copies found across all of
    them. Staged into a throwaway copy of the worktree's index (`own_index`), so the
    worktree, its index and an agent's own git commands are left alone (its new files become
    loose objects). `paths` (relative, literal, a folder stands for what is under it) limits
    both the staging and the diff to those paths: the live diff's per-file recompute."""
    if paths is not None and not paths:
        return []
    with tempfile.TemporaryDirectory(prefix="conductor-diff-") as tmp:
        index = Path(tmp, "index")
        with suppress(FileNotFoundError):
            shutil.copyfile(own_index, index)
        env = {"GIT_INDEX_FILE": str(index), "GIT_LITERAL_PATHSPECS": "1"}
        if paths is None:
            git(path, "add", "--all", env=env)
        elif stageable := _stageable(path, paths, env):
            git(path, "add", "--all", operands=stageable, env=env)
        raw = git_bytes(
            path,
            *("diff", "--cached", "--raw", "--numstat", "-z", "-M", "-C", "--no-abbrev"),
            *("--no-ext-diff", "--no-textconv", "--ignore-submodules=none"),
            operands=[base] if paths is None else [base, "--", *paths],
            env=env,
        )
    return _changes(raw.split(b"\0"))


def _stageable(path: str | Path, paths: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The paths `git add` can take: present in the worktree, or gone but in the index (a
    removal to stage). git refuses the whole command for a path that is neither."""
    present = [p for p in paths if os.path.lexists(os.path.join(path, p))]
    missing = [p for p in paths if p not in set(present)]
    if not missing:
        return present
    listed = git_bytes(path, "ls-files", "-z", operands=["--", *missing], env=env).split(b"\0")
    indexed = {os.fsdecode(name) for name in listed if name}
    return present + [p for p in missing if any(f == p or f.startswith(p + "/") for f in indexed)]


def ignored(path: str | Path, paths: Sequence[str]) -> set[str]:
    """Which of `paths` (relative to the worktree at `path`) git ignores; a tracked file
    never is (`check-ignore` leaves tracked files out)."""
    if not paths:
        return set()
    out = git_bytes(
        path,
        "check-ignore",
        "-z",
        "--stdin",
        input=b"".join(os.fsencode(p) + b"\0" for p in paths),
        codes=(0, 1),
    )
    return {os.fsdecode(name) for name in out.split(b"\0") if name}


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


def identity(path: str | Path) -> list[str]:
    """Options giving git Conductor's own name when the repository has none configured."""
    if git(path, "config", "user.email", check=False).strip():
        return []
    name, email = FALLBACK_IDENTITY
    return ["-c", f"user.name={name}", "-c", f"user.email={email}"]


# Landing an attempt (runs/landing.py): merges computed without any working tree
# (`merge-tree --write-tree`, `commit-tree`, `update-ref <ref> <new> <old>`), the user's own
# tree brought up to date only through `read-tree -m -u`, rebases inside an attempt's
# worktree, and pushes.


class RefMoved(GitError):
    """`update-ref <ref> <new> <old>` refused: somebody moved the ref after it was read."""


@dataclass(frozen=True)
class MergeResult:
    """What `merge-tree --write-tree` computed: the tree, and the conflicted paths (none
    when the merge is clean) with git's own messages about them."""

    tree: str
    conflicts: list[str]
    messages: str


@dataclass(frozen=True)
class CommitInfo:
    parents: list[str]
    author: tuple[str, str, str]  # name, email, date in git's raw form
    message: str


@dataclass(frozen=True)
class Worktree:
    path: str
    branch: str  # "" when detached or bare
    prunable: bool  # its folder is gone


def merge_tree(repo: str | Path, ours: str, theirs: str) -> MergeResult:
    """Merge two commits in git's object store only: no index, no working tree touched."""
    out = git(
        repo,
        "merge-tree",
        "--write-tree",
        "--name-only",
        "-z",
        operands=[ours, theirs],
        codes=(0, 1),
    )
    head, _, info = out.partition("\0\0")
    tree, *conflicts = [field for field in head.split("\0") if field]
    return MergeResult(tree, conflicts, _merge_messages(info))


def _merge_messages(info: str) -> str:
    """The messages of `merge-tree -z`: per message, a path count, the paths, a type, then
    the text."""
    fields, messages = info.split("\0"), []
    index = 0
    while index < len(fields) and fields[index].isdigit():
        index += int(fields[index]) + 2
        if index < len(fields):
            messages.append(fields[index].strip())
        index += 1
    return "\n".join(messages)


def cherry_pick_tree(repo: str | Path, commit: str, onto: str) -> MergeResult:
    """The tree `commit`'s change gives applied on `onto`: a three-way merge whose base is
    `commit`'s parent. git 2.39's `merge-tree` finds the base itself (`--merge-base` came in
    2.40), so both sides get a throwaway root commit holding the parent's tree as their
    only common ancestor; the objects are left for `git gc`."""
    info = commit_info(repo, commit)
    base_tree = tree_of(repo, info.parents[0]) if info.parents else _empty_tree(repo)
    base = commit_tree(repo, base_tree, [], "conductor: merge base")
    ours = commit_tree(repo, tree_of(repo, onto), [base], "conductor: ours")
    theirs = commit_tree(repo, tree_of(repo, commit), [base], "conductor: theirs")
    return merge_tree(repo, ours, theirs)


def _empty_tree(repo: str | Path) -> str:
    return git(repo, "hash-object", "-t", "tree", "-w", "--stdin").strip()


def objects_of(repo: str | Path, names: Sequence[str]) -> list[str]:
    """The object each name (ref, `<commit>^{tree}`, ...) names, '' for none: one git call for
    several lookups, the names on stdin where none can be an option."""
    for name in names:
        if "\n" in name:
            raise GitError(f"invalid reference name: {name!r}")
    out = git(
        repo, "cat-file", "--batch-check=%(objectname)", input="".join(f"{n}\n" for n in names)
    )
    return ["" if line.endswith(" missing") else line for line in out.splitlines()]


def tree_of(repo: str | Path, commit: str) -> str:
    return git(repo, "rev-parse", "--verify", "--quiet", operands=[f"{commit}^{{tree}}"]).strip()


def commit_tree(
    repo: str | Path,
    tree: str,
    parents: Sequence[str],
    message: str,
    author: tuple[str, str, str] | None = None,
) -> str:
    """A new commit object (no ref moves); `author` keeps a replayed commit's author."""
    env = dict(zip(_AUTHOR_VARIABLES, author, strict=True)) if author else {}
    options = [option for parent in parents for option in ("-p", parent)]
    out = git(
        repo,
        *identity(repo),
        "commit-tree",
        *options,
        "-F",
        "-",
        operands=[tree],
        input=message,
        env=env,
    )
    return out.strip()


_AUTHOR_VARIABLES = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE")


def commit_info(repo: str | Path, commit: str) -> CommitInfo:
    raw = git(repo, "cat-file", "commit", commit_of(repo, commit))
    headers, _, message = raw.partition("\n\n")
    parents, author = [], ("", "", "")
    for line in headers.splitlines():
        key, _, value = line.partition(" ")
        if key == "parent":
            parents.append(value)
        elif key == "author":
            name, _, rest = value.partition(" <")
            email, _, date = rest.partition("> ")
            author = (name, email, f"@{date}")
    return CommitInfo(parents, author, message)


def ref_update(repo: str | Path, ref: str, new: str, old: str, reason: str) -> None:
    """Move `ref` from `old` to `new`, atomically; RefMoved when it no longer is `old`."""
    try:
        git(repo, "update-ref", "-m", reason, operands=[ref, new, old])
    except GitError as exc:
        if commit_of(repo, ref) != old:
            raise RefMoved(str(exc)) from exc
        raise


def is_ancestor(repo: str | Path, ancestor: str, descendant: str) -> bool:
    """`ancestor` (a commit id) is in `descendant`'s history: then it is their one merge base."""
    found = git(repo, "merge-base", "--all", operands=[ancestor, descendant], codes=(0, 1))
    return found.split() == [ancestor]


def merge_base(repo: str | Path, one: str, other: str) -> str:
    return git(repo, "merge-base", operands=[one, other]).strip()


def commits_to_replay(repo: str | Path, upstream: str, head: str) -> list[str]:
    """The commits of `head` not in `upstream`, oldest first, each with its parents."""
    out = git(
        repo, "rev-list", "--reverse", "--topo-order", "--parents", operands=[head, f"^{upstream}"]
    )
    return out.splitlines()


def worktrees(repo: str | Path) -> list[Worktree]:
    """Every working tree of the repository: its main one first, then the linked ones."""
    out = git(repo, "worktree", "list", "--porcelain", "-z")
    found = []
    for record in out.split("\0\0"):
        fields = dict(line.partition(" ")[::2] for line in record.split("\0") if line)
        if "worktree" in fields:
            branch = fields.get("branch", "").removeprefix("refs/heads/")
            found.append(Worktree(fields["worktree"], branch, "prunable" in fields))
    return found


def tracked_changes(path: str | Path) -> list[str]:
    """`status --porcelain` lines of changed tracked files; it never writes the index
    (`--no-optional-locks`), so looking leaves the user's repository as it was."""
    out = git(path, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
    return out.splitlines()


def operation_in_progress(path: str | Path) -> str:
    """`rebase`, `merge`, `cherry_pick`, `revert` stopped in this working tree, or ''."""
    markers = {
        "rebase-merge": "rebase",
        "rebase-apply": "rebase",
        "MERGE_HEAD": "merge",
        "CHERRY_PICK_HEAD": "cherry_pick",
        "REVERT_HEAD": "revert",
    }
    args = [option for marker in markers for option in ("--git-path", marker)]
    paths = git(path, "rev-parse", *args).splitlines()
    for found, operation in zip(paths, markers.values(), strict=True):
        if os.path.lexists(Path(path, found)):
            return operation
    return ""


def branch_being_rebased(path: str | Path) -> str:
    """The branch a rebase stopped in this working tree moves when it finishes (its
    `head-name`), '' when none is stopped there or it rebases a detached HEAD. Its HEAD is
    detached meanwhile, so `git worktree list` names no branch for that tree."""
    found = git(path, "rev-parse", "--git-path", "rebase-merge", "--git-path", "rebase-apply")
    for folder in found.splitlines():
        with suppress(OSError):
            name = Path(path, folder, "head-name").read_text().strip()
            return name.removeprefix("refs/heads/") if name.startswith("refs/heads/") else ""
    return ""


def conflicted_files(path: str | Path) -> list[str]:
    out = git(path, "--no-optional-locks", "diff", "--name-only", "--diff-filter=U", "-z")
    return [name for name in out.split("\0") if name]


def paths_added(repo: str | Path, old: str, new: str) -> list[str]:
    out = git(repo, "diff-tree", "-r", "--name-only", "--diff-filter=A", "-z", operands=[old, new])
    return [name for name in out.split("\0") if name]


def tree_advance(path: str | Path, old: str, new: str) -> None:
    """Bring a working tree whose branch moved from `old` to `new` up to date: index and
    files go from `old`'s tree to `new`'s, and git refuses (changing nothing) when that
    would lose a local change or overwrite an untracked file. The index's stat data is
    refreshed first: `read-tree` trusts it, so a file only touched (same bytes, new times:
    `touch`, an editor's save) was "not uptodate" where `status` found nothing changed.
    A refresh that fails (`-q` says nothing of why) leaves `read-tree` to fail with git's
    words (the user's `index.lock`)."""
    git(path, "update-index", "-q", "--refresh", check=False)
    git(path, "read-tree", "-m", "-u", operands=[old, new])


def rebase(path: str | Path, onto: str) -> None:
    git(
        path,
        *identity(path),
        *_NO_HOOKS,
        "rebase",
        "--no-autostash",
        operands=[onto],
        env={"GIT_EDITOR": "true"},
    )


def rebase_continue(path: str | Path) -> None:
    git(path, *identity(path), *_NO_HOOKS, "rebase", "--continue", env={"GIT_EDITOR": "true"})


def operation_abort(path: str | Path, operation: str) -> None:
    command = {"cherry_pick": "cherry-pick"}.get(operation, operation)
    git(path, *_NO_HOOKS, command, "--abort")


def stage_all(path: str | Path) -> None:
    git(path, "add", "--all")


def leftover_markers(path: str | Path, files: Sequence[str]) -> list[str]:
    """Of `files`, those whose working copy still holds conflict markers."""
    if not files:
        return []
    out = git(path, "diff", "--check", operands=["HEAD", "--", *files], check=False)
    return sorted(
        {line.split(":", 1)[0] for line in out.splitlines() if "leftover conflict marker" in line}
    )


def remotes(repo: str | Path) -> list[str]:
    return git(repo, "remote").split()


class RemoteMoved(GitError):
    """A forced push refused: the remote branch has a commit the local branch never had."""


def push(repo: str | Path, remote: str, branch: str, *, force: bool = False) -> None:
    """Push `branch` to the same name on `remote`. `force` replaces a rewritten branch only if
    nobody pushed there since (else RemoteMoved): `--force-with-lease` alone compares with
    `<remote>/<branch>`, which any `git fetch` of the user's moves to their commits, so
    `--force-if-includes` (git 2.30) also wants that commit in the branch's reflog, where
    only a commit this branch once was, or was built on, can be. ssh never asks for a
    password: it would wait for a terminal nobody sees."""
    ref = f"refs/heads/{branch}"
    options = ["--force-with-lease", "--force-if-includes"] if force else []
    env = {"GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")}
    try:
        git(repo, "push", "--quiet", *options, operands=[remote, f"{ref}:{ref}"], env=env)
    except GitError as exc:
        if force and _LEASE_REFUSED.search(str(exc)):
            raise RemoteMoved(str(exc)) from exc
        raise


# git's reasons for a refused lease: not fetched since (`stale info`), or fetched but never
# in the branch (`remote ref updated since checkout`).
_LEASE_REFUSED = re.compile(r"\[rejected\].*\((stale info|remote ref updated since checkout)\)")


# Project reads (projects/selectors.py): a project's branches and file names, never a file's
# contents.


@dataclass(frozen=True)
class Branch:
    name: str  # `main`, or `origin/main` for a remote-tracking branch
    is_remote: bool
    is_current: bool  # checked out in the repository's own working tree
    committed_at: int  # the last commit's committer date, Unix seconds


_BRANCH_FORMAT = "%(refname)%00%(HEAD)%00%(symref)%00%(committerdate:unix)"


def branches(repo: str | Path) -> list[Branch]:
    """Local then remote-tracking branches, by name, in one `for-each-ref`; a remote's
    `HEAD` (a symbolic ref) is not a branch of its own."""
    out = git(repo, "for-each-ref", f"--format={_BRANCH_FORMAT}", "refs/heads", "refs/remotes")
    found = []
    for line in out.splitlines():
        ref, head, symref, date = line.split("\0")
        if symref:
            continue
        remote = ref.startswith("refs/remotes/")
        name = ref.removeprefix("refs/remotes/" if remote else "refs/heads/")
        found.append(Branch(name, remote, head == "*", int(date or 0)))
    return found


def file_names(repo: str | Path) -> list[str]:
    """Tracked files and untracked ones that are not ignored, in git's order (by path)."""
    out = git(
        repo,
        "--no-optional-locks",
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
    )
    return list(dict.fromkeys(name for name in out.split("\0") if name))


# Projects made from a `repo_url` (projects/creation.py).

CLONE_PROTOCOLS = ("file", "https", "ssh")


def clone(url: str, path: str | Path, *, timeout: float = 600) -> None:
    """Clone `url` into the empty folder `path`. Only `CLONE_PROTOCOLS` are allowed, for the
    clone and for anything it fetches (no `ext::` command, no submodule over another
    protocol); ssh never asks for a password. git's errors come redacted."""
    allowed = [
        option for name in CLONE_PROTOCOLS for option in ("-c", f"protocol.{name}.allow=always")
    ]
    env = {"GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")}
    git(
        path,
        "-c",
        "protocol.allow=never",
        *allowed,
        "clone",
        "--quiet",
        "--no-recurse-submodules",
        operands=[url, "."],
        timeout=timeout,
        env=env,
    )


def remote_set_url(repo: str | Path, remote: str, url: str) -> None:
    git(repo, "remote", "set-url", operands=[remote, url])


def without_password(url: str) -> str:
    """`url` with no secret left in it, for the clone's `origin`: an http(s) URL loses its
    whole user part (`https://<token>@host` is a token too), another keeps its user name
    (`ssh://git@host`) but not a password."""
    scheme, found, rest = url.partition("://")
    user, at, host = rest.partition("@")
    if not found or not at or "/" in user:
        return url
    if scheme in ("http", "https"):
        return f"{scheme}://{host}"
    return f"{scheme}://{user.partition(':')[0]}@{host}"


# Iterating on an attempt (runs/iterate.py): retrying from an earlier run (the worktree reset
# to where that run started, what was uncommitted saved first under a ref), deleting a file.


def changed_paths(path: str | Path) -> list[str]:
    """The worktree's changed and untracked (not ignored) files, as `status --porcelain`
    names them; without the optional index refresh."""
    out = git(path, "--no-optional-locks", "status", "--porcelain", "-z", "--untracked-files=all")
    fields, found = out.split("\0"), []
    at = 0
    while at < len(fields) and fields[at]:
        found.append(fields[at][3:])
        at += 2 if fields[at][0] in "RC" else 1  # a rename is followed by its old path
    return found


def working_tree_commit(path: str | Path, message: str) -> str:
    """A commit of everything in the working tree (tracked and untracked, not ignored) on top
    of HEAD, staged into a throwaway copy of the index: no ref, the index and the files are
    left as they were."""
    head, own_index = head_and_index(path)
    with tempfile.TemporaryDirectory(prefix="conductor-save-") as tmp:
        index = Path(tmp, "index")
        with suppress(FileNotFoundError):
            shutil.copyfile(own_index, index)
        env = {"GIT_INDEX_FILE": str(index)}
        git(path, "add", "--all", env=env)
        tree = git(path, "write-tree", env=env).strip()
    return commit_tree(path, tree, [head], message)


def refs_under(repo: str | Path, prefix: str) -> list[str]:
    out = git(repo, "for-each-ref", "--format=%(refname)", prefix)
    return out.splitlines()


def ref_create(repo: str | Path, ref: str, commit: str, reason: str) -> None:
    """Make `ref` point at `commit`; RefMoved when it exists already (never overwritten)."""
    ref_update(repo, ref, commit, "", reason)


def hard_reset(path: str | Path, commit: str) -> None:
    """The worktree's branch, index and files back to `commit` (a commit id), and its
    untracked files (not the ignored ones: `.env`, dependencies) removed."""
    full = commit_of(path, commit)  # a hex id, so it cannot be read as an option below
    git(path, "reset", "--hard", "--quiet", full, "--")
    git(path, "clean", "-d", "--force", "--quiet")


def is_tracked(path: str | Path, name: str) -> bool:
    return bool(git(path, "ls-files", "-z", "--", f":(literal){name}").strip("\0"))


def commit_paths(path: str | Path, message: str, names: Sequence[str], *, repo: str | Path) -> str:
    """Commit the named files as the working tree has them now (a removed one as removed),
    and nothing else that may be staged; returns the new HEAD."""
    worktree_check(repo, path)
    return _commit(path, message, "--", *(f":(literal){name}" for name in names))
