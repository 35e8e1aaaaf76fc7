"""An attempt's diff of many changed files through `runs.diffs.worktree_diff` against raw git.

Usage: .venv/bin/python bench/diff.py [--files N] [--changed C] [--rounds R] [--reps K]

A repository of N files of 40 lines; a worktree in which C files change: 60% edited, 20% new
(untracked), 10% deleted, 10% renamed with an edit (a plain `mv`). Each round times K of each,
alternating, and keeps the median; the figures are min/median/max of the R round medians.

- full: `worktree_diff` (every file's entry with both contents) against raw
  `git diff -M <base>` (the patch, tracked files only) plus
  `git ls-files --others --exclude-standard -z` (what raw git needs to know the new files).
- stats: `worktree_diff(stats_only=True)` against `git diff --numstat -M <base>` plus the
  same `ls-files`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")

import django

django.setup()

from bench.worktree import make_repo  # noqa: E402
from projects import git  # noqa: E402
from runs.diffs import worktree_diff  # noqa: E402


def make_changes(worktree: Path, files: int, changed: int) -> None:
    """Edit, add, delete and rename `changed` files in all, spread over the tree."""
    step = max(files // changed, 1)
    picked = [worktree / f"dir{n % 50}" / f"file{n}.txt" for n in range(0, files, step)]
    picked = picked[:changed]
    edits, adds, deletes = int(changed * 0.6), int(changed * 0.2), int(changed * 0.1)
    for path in picked[:edits]:
        path.write_text(path.read_text().replace("line", "edited", 5))
    for n in range(adds):
        new = worktree / f"new{n % 20}" / f"added{n}.txt"
        new.parent.mkdir(exist_ok=True)
        new.write_text(f"new {n}\n" * 30)
    for path in picked[edits : edits + deletes]:
        path.unlink()
    for path in picked[edits + deletes : changed - adds]:
        target = path.with_name(f"renamed-{path.name}")
        path.rename(target)
        target.write_text(target.read_text() + "one more line\n")


def raw_full(worktree: Path, base: str) -> None:
    subprocess.run(
        ["git", "-C", str(worktree), "diff", "-M", base], check=True, capture_output=True
    )
    untracked(worktree)


def raw_stats(worktree: Path, base: str) -> None:
    subprocess.run(
        ["git", "-C", str(worktree), "diff", "--numstat", "-M", base],
        check=True,
        capture_output=True,
    )
    untracked(worktree)


def untracked(worktree: Path) -> None:
    subprocess.run(
        ["git", "-C", str(worktree), "ls-files", "--others", "--exclude-standard", "-z"],
        check=True,
        capture_output=True,
    )


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def spread(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return f"{ms[0]:.0f} / {statistics.median(ms):.0f} / {ms[-1]:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--files", type=int, default=4000)
    parser.add_argument("--changed", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="conductor-bench-diff-"))
    repo = make_repo(root, args.files)
    worktree = root / "wt"
    base = git.worktree_add(repo, worktree, "conductor/bench", "main")
    make_changes(worktree, args.files, args.changed)
    diff = worktree_diff(str(repo), str(worktree), "main")
    print(f"{args.files} files, {diff['totals']['files']} changed in the diff")
    cases = {
        "full": (
            lambda: worktree_diff(str(repo), str(worktree), "main"),
            lambda: raw_full(worktree, base),
        ),
        "stats": (
            lambda: worktree_diff(str(repo), str(worktree), "main", stats_only=True),
            lambda: raw_stats(worktree, base),
        ),
    }
    for name, (ours, raw) in cases.items():
        rounds: dict[str, list[float]] = {"raw": [], "conductor": []}
        for _ in range(args.rounds):
            pairs = [(timed(raw), timed(ours)) for _ in range(args.reps)]
            rounds["raw"].append(statistics.median(p[0] for p in pairs))
            rounds["conductor"].append(statistics.median(p[1] for p in pairs))
        ratio = statistics.median(rounds["conductor"]) / statistics.median(rounds["raw"])
        print(
            f"{name}: raw git {spread(rounds['raw'])}, Conductor {spread(rounds['conductor'])} "
            f"(min / median / max of {args.rounds} rounds), ratio of medians {ratio:.2f}"
        )


if __name__ == "__main__":
    main()
