"""An attempt's diff: what its worktree changed since the merge-base with its target branch,
committed or not, untracked (non-ignored) files included; and the snapshots of it stored when
a run ends, so any server process can answer without the worktree (shared/DESIGN.md §6).

The git side (one staging into a throwaway index, one `diff --raw --numstat`, two
`cat-file` batches) is `projects/git.py`'s; this module decides what a file's entry says:
its kind, its contents, and when they are left out (`content_omitted`: "binary" or
"too_large", by the `DIFF_FILE_MAX_BYTES` and `DIFF_TOTAL_MAX_BYTES` settings). The live
diff stream reuses `worktree_diff` (limited to the paths that changed, `runs.diffwatch`), and
hears of each stored snapshot (`diff.stored` on the attempt's group).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NotRequired, TypedDict

from django.conf import settings
from django.utils import timezone

from conductor_site.errors import DomainError
from conductor_site.live.events import DiffStored, attempt_group
from conductor_site.live.publish import publish
from projects import git
from runs.models import Attempt, DiffSnapshot, Run
from runs.selectors import rfc3339

log = logging.getLogger(__name__)

CHANGE_KINDS = {"A": "added", "M": "modified", "T": "modified", "D": "deleted"}
CHANGE_KINDS |= {"R": "renamed", "C": "copied"}
FILE_TYPES = {"100644": "file", "100755": "executable", "120000": "symlink"}
FILE_TYPES |= {"160000": "submodule"}
ABSENT_MODE = "000000"
SUBMODULE_MODE = "160000"

ChangeKind = Literal["added", "modified", "deleted", "renamed", "copied"]
Omitted = Literal["binary", "too_large"]


class DiffFile(TypedDict, total=False):
    """One file of a diff; `old_content`/`new_content` are absent from a stats-only diff,
    None for a side that does not exist or whose content is omitted."""

    change: ChangeKind
    old_path: str | None
    new_path: str | None
    old_mode: str | None
    new_mode: str | None
    file_type: str
    similarity: int | None
    binary: bool
    additions: int
    deletions: int
    content_omitted: Omitted | None
    old_content: str | None
    new_content: str | None


class DiffTotals(TypedDict):
    files: int
    additions: int
    deletions: int


class Diff(TypedDict):
    attempt_id: str
    source: Literal["worktree", "snapshot"]
    stale_reason: NotRequired[str]  # a snapshot answered: why the worktree was not read
    computed_at: str | None
    target_branch: str
    base_commit: str
    head_commit: str
    stats_only: bool
    totals: DiffTotals
    files: list[DiffFile]


class DiffUnavailable(DomainError):
    """There is nothing to compute the diff from (no worktree, or not a git worktree)."""

    status_code = 409


def attempt_diff(attempt: Attempt, *, stats_only: bool = False, common: Path | None = None) -> Diff:
    """The attempt's diff, computed now from its worktree (which must be on this host)."""
    if not attempt.worktree_path:
        raise DiffUnavailable(f"attempt {attempt.id} has no git worktree (yet)")
    repo, worktree = attempt.task.project.project_root, attempt.worktree_path
    try:
        diff = worktree_diff(repo, worktree, attempt.target, stats_only=stats_only, common=common)
    except git.GitError as exc:
        raise DiffUnavailable(f"cannot compute the diff of attempt {attempt.id}: {exc}") from exc
    return {**diff, "attempt_id": attempt.id}


def worktree_diff(
    repo: str,
    worktree: str,
    target: str,
    *,
    stats_only: bool = False,
    common: Path | None = None,
    paths: Sequence[str] | None = None,
) -> Diff:
    """The diff of the worktree at `worktree` (one of `repo`'s) against its merge-base with
    `target`. Refused (ForeignWorktree) when the folder is no longer the worktree Conductor
    made: git would stage whatever repository encloses it. `common`: the repository's git
    dir, when the caller has it (`git.worktree_check`). `paths`: only the entries of these
    (relative) paths and what is under them, the live diff's recompute of what changed
    (`runs.diffwatch`); renames are found among them."""
    git.worktree_check(repo, worktree, common=common)
    head, index = git.head_and_index(worktree)
    try:
        base = git.merge_base(worktree, head, target)
    except git.GitError as exc:
        raise git.GitError(f"no merge-base of HEAD and {target!r}: {exc}") from exc
    changes = git.working_changes(worktree, base, index, paths)
    files = [_file(change) for change in changes]
    if not stats_only:
        _fill_contents(worktree, changes, files)
    return {
        "attempt_id": "",
        "source": "worktree",
        "computed_at": rfc3339(timezone.now()),
        "target_branch": target,
        "base_commit": base,
        "head_commit": head,
        "stats_only": stats_only,
        "totals": _totals(files),
        "files": files,
    }


def _file(change: git.Change) -> DiffFile:
    binary = change.additions is None
    mode = change.new_mode if change.new_mode != ABSENT_MODE else change.old_mode
    return {
        "change": CHANGE_KINDS[change.status],  # type: ignore[typeddict-item]
        "old_path": change.old_path,
        "new_path": change.new_path,
        "old_mode": _mode(change.old_mode),
        "new_mode": _mode(change.new_mode),
        "file_type": FILE_TYPES.get(mode, "file"),
        "similarity": change.similarity,
        "binary": binary,
        "additions": change.additions or 0,
        "deletions": change.deletions or 0,
        "content_omitted": "binary" if binary else None,
    }


def _mode(mode: str) -> str | None:
    return None if mode == ABSENT_MODE else mode


def _totals(files: list[DiffFile]) -> DiffTotals:
    return {
        "files": len(files),
        "additions": sum(f["additions"] for f in files),
        "deletions": sum(f["deletions"] for f in files),
    }


def _fill_contents(worktree: str, changes: list[git.Change], files: list[DiffFile]) -> None:
    """Each file's two sides, read from git's objects by id (a symlink's content is its
    target, never what it points at), within the per-file and the total caps."""
    sides = [(_blob(c.old_mode, c.old_blob), _blob(c.new_mode, c.new_blob)) for c in changes]
    sizes = git.object_sizes(worktree, sorted({b for pair in sides for b in pair if b}))
    wanted = _within_caps(files, sides, sizes)
    blobs = git.objects_read(worktree, sorted({b for i in wanted for b in sides[i] if b}))
    for i, (entry, change) in enumerate(zip(files, changes, strict=True)):
        old_blob, new_blob = sides[i]
        entry["old_content"] = _side(change.old_mode, change.old_blob, old_blob, blobs, i in wanted)
        entry["new_content"] = _side(change.new_mode, change.new_blob, new_blob, blobs, i in wanted)
        if i in wanted and _undecodable(entry, old_blob, new_blob, blobs):
            entry["content_omitted"] = "binary"
            entry["old_content"] = entry["new_content"] = None


def _blob(mode: str, blob: str) -> str:
    """The blob to read for one side, "" when there is none (absent, or a submodule)."""
    return "" if mode in (ABSENT_MODE, SUBMODULE_MODE) else blob


def _within_caps(
    files: list[DiffFile], sides: list[tuple[str, str]], sizes: dict[str, int]
) -> set[int]:
    """The files whose contents fit, in diff order; the others are marked "too_large"."""
    per_file = int(settings.CONDUCTOR["DIFF_FILE_MAX_BYTES"])
    budget = int(settings.CONDUCTOR["DIFF_TOTAL_MAX_BYTES"])
    wanted = set()
    for i, entry in enumerate(files):
        if entry["content_omitted"]:
            continue
        size = [sizes.get(blob, 0) for blob in sides[i] if blob]
        if max(size, default=0) > per_file or sum(size) > budget:
            entry["content_omitted"] = "too_large"
            continue
        budget -= sum(size)
        wanted.add(i)
    return wanted


def _side(mode: str, blob: str, readable: str, blobs: dict[str, bytes], wanted: bool) -> str | None:
    if mode == SUBMODULE_MODE:
        return f"Subproject commit {blob}\n"
    if not wanted or not readable:
        return None
    return blobs.get(readable, b"").decode(errors="replace")


def _undecodable(entry: DiffFile, old: str, new: str, blobs: dict[str, bytes]) -> bool:
    """Text git took for text that cannot travel as JSON text: not UTF-8, or NUL bytes past
    git's 8,000-byte sniff (PostgreSQL's jsonb refuses `\\u0000`)."""
    for blob in (old, new):
        data = blobs.get(blob, b"") if blob else b""
        if b"\0" in data:
            return True
        try:
            data.decode()
        except UnicodeDecodeError:
            return True
    return False


def snapshot_store(
    attempt: Attempt, run: Run | None = None, common: Path | None = None
) -> DiffSnapshot | None:
    """Store the attempt's diff as it is now (after `run` ended; `common` as the run's
    worktree checks have it). Never raises: a diff that cannot be computed is logged and
    the run's outcome stands."""
    if not attempt.worktree_path:
        return None
    try:
        diff = attempt_diff(attempt, common=common)
    except (DomainError, git.GitError, OSError) as exc:
        log.warning("attempt %s: no diff snapshot: %s", attempt.id, exc)
        return None
    contents = [
        {"old": f.pop("old_content", None), "new": f.pop("new_content", None)}
        for f in diff["files"]
    ]
    totals = diff["totals"]
    snapshot = DiffSnapshot.objects.create(
        attempt=attempt,
        run=run,
        target_branch=diff["target_branch"],
        base_commit=diff["base_commit"],
        head_commit=diff["head_commit"],
        files=diff["files"],
        contents=contents,
        files_changed=totals["files"],
        additions=totals["additions"],
        deletions=totals["deletions"],
    )
    # Only the latest is ever served whole: the older ones keep their files and totals (one
    # per run), not up to DIFF_TOTAL_MAX_BYTES of contents each.
    older = DiffSnapshot.objects.filter(attempt=attempt, id__lt=snapshot.id)
    older.exclude(contents=[]).update(contents=[])
    stored: DiffStored = {
        "type": "diff.stored",
        "attempt_id": attempt.id,
        "run_id": run.id if run else None,
        "snapshot_id": snapshot.id,
    }
    publish([(attempt_group(attempt.id), stored)])
    return snapshot


def snapshot_diff(attempt: Attempt, *, stats_only: bool = False) -> Diff | None:
    """The latest stored diff of the attempt, None when no run has ended yet."""
    snapshots = DiffSnapshot.objects.filter(attempt=attempt).order_by("-created_at", "-id")
    if stats_only:
        snapshots = snapshots.defer("contents")
    snapshot = snapshots.first()
    if snapshot is None:
        return None
    files: list[DiffFile] = snapshot.files
    if not stats_only:  # the latest snapshot keeps its contents
        for entry, sides in zip(files, snapshot.contents, strict=True):
            entry["old_content"], entry["new_content"] = sides["old"], sides["new"]
    return {
        "attempt_id": attempt.id,
        "source": "snapshot",
        "computed_at": rfc3339(snapshot.created_at),
        "target_branch": snapshot.target_branch,
        "base_commit": snapshot.base_commit,
        "head_commit": snapshot.head_commit,
        "stats_only": stats_only,
        "totals": {
            "files": snapshot.files_changed,
            "additions": snapshot.additions,
            "deletions": snapshot.deletions,
        },
        "files": files,
    }
