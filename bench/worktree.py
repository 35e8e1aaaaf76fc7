"""Worktree creation through Conductor's git wrapper against raw `git worktree add`.

Usage: .venv/bin/python bench/worktree.py [--files N] [--count C]

A repository of N small files; C worktrees made each way, alternating; median times and their
ratio (DESIGN.md §8: ≤ 1.1, or raw + 50 ms).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from projects import git


def make_repo(root: Path, files: int) -> Path:
    repo = root / "repo"
    for n in range(files):
        path = repo / f"dir{n % 50}" / f"file{n}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"line {n}\n" * 20)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "i"],
        check=True,
    )
    return repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--count", type=int, default=30)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="conductor-bench-"))
    repo = make_repo(root, args.files)
    raw: list[float] = []
    wrapped: list[float] = []
    for n in range(args.count):
        start = time.perf_counter()
        subprocess.run(
            [
                "git",
                "-C",
                str(repo),
                "worktree",
                "add",
                "-q",
                "-b",
                f"raw/{n}",
                str(root / f"raw{n}"),
                "main",
            ],
            check=True,
        )
        raw.append(time.perf_counter() - start)
        start = time.perf_counter()
        git.worktree_add(repo, root / f"wt{n}", f"conductor/{n}", "main")
        wrapped.append(time.perf_counter() - start)
    r, w = statistics.median(raw), statistics.median(wrapped)
    print(
        f"{args.files} files, {args.count} worktrees each: raw median {r * 1000:.1f} ms, "
        f"git.worktree_add median {w * 1000:.1f} ms, ratio {w / r:.2f}, +{(w - r) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
