"""Log ingest through the supervisor and the batching writer, in one worker process.

Usage: .venv/bin/python bench/ingest.py [--lines N] [--floods F] [--runs R] [--rate L]
       [--seconds S]

1. flood: one run of `seq 1 N`, side by side with the database's own limit: a plain Python
   loop storing the same bytes in 1 MiB pieces, one row and one commit each, into one table of
   the same database (SQLite in WAL mode, or PostgreSQL with DATABASE_URL); stored MB/s of
   both and their ratio, and wall time ÷ the same command into `cat`.
2. floods: F such runs at once; every line stored, peak RSS of the process.
3. concurrent: R runs each printing L lines/s for S seconds; lines stored, RSS of the process.
Uses a throwaway data dir with SQLite (embedded mode) unless DATABASE_URL is set. The log cap
is raised past the flood's size (unless CONDUCTOR_LOG_MAX_BYTES is set), so both sides store
every byte.
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
os.environ.setdefault("CONDUCTOR_LOG_MAX_BYTES", str(1 << 30))

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from projects.models import Project  # noqa: E402
from runs.models import Attempt, LogChunk, Run  # noqa: E402
from runs.supervisor import Invocation, execute  # noqa: E402
from tasks.models import Task  # noqa: E402


def new_run(name: str) -> Run:
    project, _ = Project.objects.get_or_create(id="bench")
    task = Task.objects.create(project=project, task_id=name, prompt="", agent_type="shell")
    attempt = Attempt.objects.create(task=task, agent="shell")
    return Run.objects.create(attempt=attempt, status="running")


def plain_loop(command: str) -> tuple[int, float]:
    """The database's limit: the command's output in 1 MiB pieces, a row and a commit each,
    through the same connection settings Conductor uses. Returns (bytes, seconds)."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_plain")
        cursor.execute("CREATE TABLE bench_plain (seq integer PRIMARY KEY, text text NOT NULL)")
    size = 0
    start = time.perf_counter()
    with subprocess.Popen(["bash", "-c", command], stdout=subprocess.PIPE) as seq:
        assert seq.stdout is not None
        with connection.cursor() as cursor:  # autocommit: each INSERT commits on its own
            while piece := seq.stdout.read(1 << 20):
                size += len(piece)
                cursor.execute("INSERT INTO bench_plain VALUES (%s, %s)", (size, piece.decode()))
    wall = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_plain")
    return size, wall


def flood(lines: int) -> None:
    command = f"seq 1 {lines}"
    start = time.perf_counter()
    subprocess.run(f"{command} | cat > /dev/null", shell=True, check=True)
    raw = time.perf_counter() - start
    size, plain = plain_loop(command)
    run = new_run("flood")
    start = time.perf_counter()
    result = execute(run.id, Invocation(["bash", "-c", command], "/tmp", dict(os.environ)))
    wall = time.perf_counter() - start
    stored = sum(LogChunk.objects.filter(run=run).values_list("line_count", flat=True))
    print(
        f"flood ({connection.vendor}): {lines:,} lines, exit {result.exit_code}, stored "
        f"{stored:,} in {wall:.2f}s = {size / wall / 1e6:.1f} MB/s; plain loop {plain:.2f}s = "
        f"{size / plain / 1e6:.1f} MB/s; Conductor ÷ plain rate {plain / wall:.2f}; "
        f"raw into cat {raw:.2f}s; ratio {wall / raw:.1f}"
    )


def floods(count: int, lines: int) -> None:
    command = f"seq 1 {lines}"
    run_rows = [new_run(f"f{n}") for n in range(count)]
    start = time.perf_counter()
    threads = [
        threading.Thread(
            target=execute,
            args=(run.id, Invocation(["bash", "-c", command], "/tmp", dict(os.environ))),
        )
        for run in run_rows
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    stored = sum(LogChunk.objects.filter(run__in=run_rows).values_list("line_count", flat=True))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"floods: {count} x `{command}` at once: stored {stored:,} of {count * lines:,} lines "
        f"in {wall:.1f}s; peak RSS {rss:.0f} MB"
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
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--floods", type=int, default=4)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    flood(args.lines)
    floods(args.floods, args.lines)
    concurrent(args.runs, args.rate, args.seconds)


if __name__ == "__main__":
    main()
