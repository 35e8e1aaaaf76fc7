"""The live diff: while an agent runs, the worker that owns its worktree watches the files and
publishes the diff entries of those that changed (shared/DESIGN.md §6).

`watching(attempt, run, common)` wraps the agent's process (`runs.pipeline`). The watch is in
place before the agent starts (`watchfiles`' Rust notifier, inotify on Linux), so nothing it
writes is missed; its own thread sets it up, then takes each batch of changes, gathered until the
tree has been quiet for 50 ms or for at most `DIFF_WATCH_DEBOUNCE_MS`, drops `.git/`, paths
beyond a symlink and git-ignored ones, re-diffs only those paths (`diffs.worktree_diff`'s
`paths`: no second diff engine) and publishes them as `diff.changed` on `attempt.<id>`, with
the run's next `seq`. Neither the agent nor the log writer waits on it: the agent's start waits
at most `READY_SECONDS` for the notifier, and the run's end not at all (the thread sees the
stop within 50 ms, or after the diff in progress; what it publishes after the run's final
snapshot, streams drop). The notifier follows symlinks that are in the tree when it starts;
their changes are dropped (`_relative`). Its cost is bounded, not zero when nobody watches:
per batch (one per debounce window at most) one `check-ignore` and one staging and diff of the
changed paths; past `DIFF_WATCH_MAX_PATHS` paths at once it diffs nothing and says `overflow`.

git pairs a deleted and an added file into a rename only when both are in one diff, so each
recompute also takes the paths the watch knows as added, deleted or one side of a rename
(`_Known`: the last stored snapshot, then what it sent), and keeps the entries that touch a
changed path or its rename partner.

`live_diff` (an owner operation, `runs.owner`) answers a stream that lost a change or joined
mid-run: the whole diff now, and the position (run, seq) it includes.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from watchfiles._rust_notify import RustNotify, WatchfilesRustInternalError

from conductor_site.live.events import DiffChanged, attempt_group
from conductor_site.live.publish import publish
from projects import git
from runs import diffs
from runs.models import Attempt, DiffSnapshot, Run

log = logging.getLogger(__name__)

READY_SECONDS = 2.0  # how long the agent's start waits for the notifier to be in place
STEP_MS = 50  # a batch is sent once the tree has been quiet this long
PAIRED = ("renamed", "copied")


class _Known:
    """The diff's paths that can pair with a changed one: rename and copy partners, and
    added or deleted files (a rename's possible other side)."""

    def __init__(self, files: Iterable[Mapping[str, Any]]) -> None:
        self.partners: dict[str, str] = {}
        self.loose: set[str] = set()
        self.learn(files)

    def learn(self, files: Iterable[Mapping[str, Any]]) -> None:
        for entry in files:
            old, new = entry.get("old_path"), entry.get("new_path")
            if entry["change"] in PAIRED and old and new:
                self.partners[old], self.partners[new] = new, old
            elif entry["change"] in ("added", "deleted"):
                self.loose.add(str(old or new))

    def forget(self, paths: set[str]) -> None:
        for path in [p for p in self.partners if _under(p, paths)]:
            self.partners.pop(self.partners.pop(path, ""), None)
        self.loose = {p for p in self.loose if not _under(p, paths)}

    def partners_of(self, paths: set[str]) -> set[str]:
        return {self.partners[p] for p in paths if p in self.partners}


def _under(path: str | None, paths: set[str]) -> bool:
    """`path` is one of `paths` or inside one of them (a folder)."""
    if path is None:
        return False
    return path in paths or any(path.startswith(p + "/") for p in paths)


def _touches(entry: diffs.DiffFile, paths: set[str]) -> bool:
    return _under(entry["old_path"], paths) or _under(entry["new_path"], paths)


class DiffWatch:
    """One agent run's watch of its attempt's worktree, publishing on its own thread."""

    def __init__(self, attempt: Attempt, run: Run, known: _Known) -> None:
        self.worktree = attempt.worktree_path
        self.root = os.path.realpath(attempt.worktree_path)  # where the notifier reports
        self.repo = attempt.task.project.project_root
        self.target = attempt.target
        self.attempt_id, self.run_id = attempt.id, run.id
        self.project_id, self.task_id = attempt.task.project_id, attempt.task.task_id
        self.common: Path | None = None
        self.seq = 0  # the last change published
        self.known = known
        self.ready = threading.Event()  # watching (or given up): the agent may start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"diff-{run.id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Tell the thread to end; not waited for (joining cost every run ~25 ms)."""
        self._stop.set()

    def _watch(self) -> None:
        debounce = max(int(settings.CONDUCTOR["DIFF_WATCH_DEBOUNCE_MS"]), STEP_MS)
        try:
            # debug off, no polling (300 ms: its unused delay), recursive, unreadable dirs skipped
            notify = RustNotify([self.root], False, False, 300, True, True)
        except (OSError, RuntimeError, WatchfilesRustInternalError) as exc:
            log.warning("run %s: no live diff (cannot watch the worktree: %s)", self.run_id, exc)
            return
        finally:
            self.ready.set()
        try:
            while not self._stop.is_set():
                raw = notify.watch(debounce, STEP_MS, 1000, self._stop)
                if isinstance(raw, set) and raw:
                    self._changed({path for _, path in raw})
        except Exception:  # the run goes on; its stored snapshot still comes at the end
            log.warning("run %s: the live diff stopped", self.run_id, exc_info=True)
        finally:
            notify.close()

    def _changed(self, absolute: set[str]) -> None:
        paths = set(self._relative(absolute))
        if len(paths) > int(settings.CONDUCTOR["DIFF_WATCH_MAX_PATHS"]):
            self._publish([], [], None)
            return
        paths -= git.ignored(self.worktree, sorted(paths))
        if not paths:
            return
        touched = paths | self.known.partners_of(paths)
        room = int(settings.CONDUCTOR["DIFF_WATCH_MAX_PATHS"]) - len(touched)
        pairable = self.known.loose if len(self.known.loose) <= room else set()
        try:
            diff = diffs.worktree_diff(
                self.repo,
                self.worktree,
                self.target,
                common=self.common,
                paths=sorted(touched | pairable),
            )
        except (git.GitError, OSError) as exc:
            log.info("run %s: live diff of %d paths failed: %s", self.run_id, len(paths), exc)
            return
        files = [f for f in diff["files"] if _touches(f, touched)]
        replaced = touched | {p for f in files for p in (f["old_path"], f["new_path"]) if p}
        self.known.forget(replaced)
        self.known.learn(files)
        self._publish(sorted(replaced), files, diff)

    def _relative(self, absolute: set[str]) -> Iterator[str]:
        """Each path inside the worktree as git names it, without `.git/` and paths beyond
        a symlink (git refuses them; they are another tree's files)."""
        for path in absolute:
            try:
                parts = Path(path).relative_to(self.root).parts
            except ValueError:
                continue
            if not parts or ".git" in parts:
                continue
            parent = os.path.join(self.root, *parts[:-1])
            if os.path.realpath(parent) == parent:
                yield str(PurePosixPath(*parts))

    def _publish(self, paths: list[str], files: list[Any], diff: diffs.Diff | None) -> None:
        self.seq += 1
        event: DiffChanged = {
            "type": "diff.changed",
            "attempt_id": self.attempt_id,
            "project_id": self.project_id,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "seq": self.seq,
            "paths": paths,
            "files": files,
            "head_commit": diff["head_commit"] if diff else "",
            "base_commit": diff["base_commit"] if diff else "",
            "overflow": diff is None,
        }
        publish([(attempt_group(self.attempt_id), event)])


_watches: dict[str, DiffWatch] = {}
_lock = threading.Lock()


@contextmanager
def watching(attempt: Attempt, run: Run, common: Path | None) -> Iterator[None]:
    """Watch the attempt's worktree while the body (the agent's process) runs."""
    watch = _watch_start(attempt, run, common)
    try:
        yield
    finally:
        if watch is not None:
            with _lock:
                _watches.pop(attempt.id, None)
            watch.stop()


def _watch_start(attempt: Attempt, run: Run, common: Path | None) -> DiffWatch | None:
    """The watch, started; None without a worktree. The agent waits for the notifier to be
    in place (so nothing it writes is missed), but at most `READY_SECONDS`: a huge tree is
    watched late, and one that cannot be watched (past the host's inotify limit) is not; its
    stored snapshot still comes at the end."""
    if not attempt.worktree_path:
        return None
    watch = DiffWatch(attempt, run, _Known(_snapshot_files(attempt)))
    watch.common = common
    with _lock:
        _watches[attempt.id] = watch
    watch.start()
    watch.ready.wait(READY_SECONDS)
    return watch


def _snapshot_files(attempt: Attempt) -> list[dict[str, Any]]:
    latest = DiffSnapshot.objects.filter(attempt=attempt).order_by("-created_at", "-id")
    files = latest.values_list("files", flat=True).first()
    return list(files or [])


def live_diff(attempt: Attempt, *, stats_only: bool = False) -> dict[str, Any]:
    """The attempt's whole diff now, and the last change (`run_id`, `seq`) it includes: a
    stream that sends it goes on with the changes after that one. The position is read
    before the diff, so any change it does not include comes after it."""
    with _lock:
        watch = _watches.get(attempt.id)
    run_id, seq = (watch.run_id, watch.seq) if watch is not None else (None, 0)
    diff = diffs.attempt_diff(attempt, stats_only=stats_only)
    return {"diff": diff, "run_id": run_id, "seq": seq}
