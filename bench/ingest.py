"""Log ingest through the supervisor and the batching writer, in one worker process.

Usage: .venv/bin/python bench/ingest.py [--lines N] [--runs R] [--rate L] [--seconds S]

1. flood: one run of `seq 1 N`; stored lines/s, and wall time ÷ the same command into `cat`.
2. concurrent: R runs each printing L lines/s for S seconds; lines stored, RSS of the process.
Uses a throwaway data dir with SQLite (embedded mode) unless DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("CONDUCTOR_DATA_DIR", tempfile.mkdtemp(prefix="conductor-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402

from projects.models import Project  # noqa: E402
from runs.models import Attempt, LogChunk, Run  # noqa: E402
from runs.supervisor import Invocation, execute  # noqa: E402
from tasks.models import Task  # noqa: E402


def new_run(name: str) -> Run:
    project, _ = Project.objects.get_or_create(id="bench")
    task = Task.objects.create(project=project, task_id=name, prompt="", agent_type="shell")
    attempt = Attempt.objects.create(task=task, agent="shell")
    return Run.objects.create(attempt=attempt, status="running")


def flood(lines: int) -> None:
    command = f"seq 1 {lines}"
    start = time.perf_counter()
    subprocess.run(f"{command} | cat > /dev/null", shell=True, check=True)
    raw = time.perf_counter() - start
    run = new_run("flood")
    start = time.perf_counter()
    result = execute(run.id, Invocation(["bash", "-c", command], "/tmp", dict(os.environ)))
    wall = time.perf_counter() - start
    stored = sum(LogChunk.objects.filter(run=run).values_list("line_count", flat=True))
    print(
        f"flood: {lines:,} lines, exit {result.exit_code}, stored {stored:,} "
        f"in {wall:.2f}s = {stored / wall:,.0f} lines/s; raw {raw:.2f}s; ratio {wall / raw:.2f}"
    )


def concurrent(runs: int, rate: int, seconds: int) -> None:
    per_tick = max(rate // 100, 1)
    script = (  # one process per run: bash loops forking `seq` would measure fork() instead
        f'perl -e \'$|=1; for $t (1..{seconds * 100}) {{ print "$t $_\\n" for 1..{per_tick}; '
        "select(undef, undef, undef, 0.01) }'"
    )
    run_rows = [new_run(f"c{n}") for n in range(runs)]
    results: list[int] = []

    def one(run: Run) -> None:
        execute(run.id, Invocation(["bash", "-c", script], "/tmp", dict(os.environ)))
        results.append(1)

    start = time.perf_counter()
    threads = [threading.Thread(target=one, args=(run,)) for run in run_rows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    expected = runs * seconds * 100 * per_tick
    stored = sum(LogChunk.objects.filter(run__in=run_rows).values_list("line_count", flat=True))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"concurrent: {runs} runs x ~{rate} lines/s x {seconds}s: stored {stored:,} of "
        f"{expected:,} lines in {wall:.1f}s; peak RSS {rss:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    flood(args.lines)
    concurrent(args.runs, args.rate, args.seconds)


if __name__ == "__main__":
    main()
