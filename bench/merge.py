"""A squash merge through `runs.landing.attempt_merge`, against the same merge done with raw git.

Usage: .venv/bin/python bench/merge.py [--files N] [--count C]

Two identical repositories of N small files, each with C branches of one commit that changes
10 files; one attempt row per branch. Each iteration squash-merges the next branch into `main`,
alternating raw and landing, in two cases:

- `main` checked out (clean) in the repository: raw is `git merge --squash` then `git commit`
  in it; landing computes with merge-tree/commit-tree/update-ref, then brings that tree up to
  date with `read-tree -m -u`;
- `main` not checked out: raw is the plumbing landing uses (`merge-tree --write-tree`,
  `commit-tree`, `update-ref`), so the difference is landing's own checks and bookkeeping.

Prints min / median / max per way and the median ratio. A throwaway data dir with SQLite.
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
os.environ.setdefault("CONDUCTOR_DATA_DIR", tempfile.mkdtemp(prefix="conductor-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402

from projects.models import Project  # noqa: E402
from runs import landing  # noqa: E402
from runs.models import Attempt, RunStatus  # noqa: E402
from tasks.models import Task  # noqa: E402

IDENTITY = ["-c", "user.name=b", "-c", "user.email=b@b"]


def git(repo: Path, *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *IDENTITY, *args],
        check=True,
        capture_output=True,
        text=True,
        input=stdin,
    )
    return done.stdout


def make_repo(root: Path, name: str, files: int, branches: int) -> Path:
    repo = root / name
    for n in range(files):
        path = repo / f"dir{n % 50}" / f"file{n}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"line {n}\n" * 20)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "initial")
    for b in range(branches):
        git(repo, "checkout", "-q", "-b", f"attempt/{b}", "main")
        for k in range(b * 10, b * 10 + 10):
            (repo / f"dir{k % 50}" / f"file{k}.txt").write_text(f"changed by {b}\n")
        git(repo, "commit", "-qam", f"attempt {b}")
    git(repo, "checkout", "-q", "main")
    return repo


def raw_porcelain(repo: Path, branch: str) -> None:
    git(repo, "merge", "--squash", "-q", branch)
    git(repo, "commit", "-qm", f"squash {branch}")


def raw_plumbing(repo: Path, branch: str) -> None:
    old = git(repo, "rev-parse", "refs/heads/main").strip()
    tree = git(repo, "merge-tree", "--write-tree", "main", branch).split()[0]
    new = git(repo, "commit-tree", "-p", old, "-F", "-", tree, stdin=f"squash {branch}").strip()
    git(repo, "update-ref", "refs/heads/main", new, old)


def attempts(repo: Path, name: str, branches: int) -> list[str]:
    project = Project.objects.create(id=name, project_root=str(repo))
    ids = []
    for b in range(branches):
        task = Task.objects.create(project=project, task_id=f"t{b}", title=f"Task {b}", prompt="p")
        attempt = Attempt.objects.create(
            task=task, agent="shell", status=RunStatus.SUCCESS, branch=f"attempt/{b}"
        )
        Attempt.objects.filter(id=attempt.id).update(target_branch="main")
        ids.append(attempt.id)
    return ids


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def report(case: str, raw_label: str, raw: list[float], ours: list[float]) -> None:
    def ms(values: list[float]) -> str:
        low, mid, high = min(values), statistics.median(values), max(values)
        return f"{low * 1000:.1f} / {mid * 1000:.1f} / {high * 1000:.1f} ms"

    ratio = statistics.median(ours) / statistics.median(raw)
    print(f"{case}: {raw_label} {ms(raw)}; landing {ms(ours)}; median ratio {ratio:.2f}")


def bench(root: Path, files: int, count: int, checked_out: bool) -> None:
    suffix = "co" if checked_out else "bare"
    raw_repo = make_repo(root, f"raw-{suffix}", files, count)
    our_repo = make_repo(root, f"ours-{suffix}", files, count)
    if not checked_out:
        git(raw_repo, "checkout", "-q", "--detach")
        git(our_repo, "checkout", "-q", "--detach")
    ids = attempts(our_repo, f"bench-{suffix}", count)
    raw_merge = raw_porcelain if checked_out else raw_plumbing
    raw, ours = [], []
    for b, attempt_id in enumerate(ids):
        raw.append(timed(lambda b=b: raw_merge(raw_repo, f"attempt/{b}")))  # type: ignore[misc]
        ours.append(timed(lambda a=attempt_id: landing.attempt_merge(a)))  # type: ignore[misc]
    label = (
        "raw merge --squash + commit" if checked_out else "raw merge-tree/commit-tree/update-ref"
    )
    where = "main checked out" if checked_out else "main not checked out"
    report(f"{files} files, {count} squash merges each, {where}", label, raw, ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    root = Path(tempfile.mkdtemp(prefix="conductor-bench-merge-"))
    bench(root, args.files, args.count, checked_out=True)
    bench(root, args.files, args.count, checked_out=False)


if __name__ == "__main__":
    main()
