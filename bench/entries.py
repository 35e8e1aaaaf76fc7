"""A run's conversation rebuilt from its stored log (`runs.entries.replay.entries_of`), side by
side with reading the same LogChunk rows and nothing else.

Usage: .venv/bin/python bench/entries.py [--repeat N] [--rounds R]

Stores one agent run whose log is the Claude Code fixture (tests/fixtures/entries/claude.jsonl)
repeated N times, with fresh tool-call ids each time, in ~64 KiB chunks as the log writer
stores them. Then, R rounds of: (a) read every chunk in `seq` order (the floor: what any
replay costs), (b) `entries_of(run, after=0, limit=200)` (reads every chunk, normalizes every
line, keeps one page), (c) the normalizer alone over the same chunks held in memory, its
upserts dropped (so (b) minus (c) is the database's part). Prints lines/s of each, min / median /
max. Uses a throwaway SQLite data dir unless DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CONDUCTOR_DATA_DIR", tempfile.mkdtemp(prefix="conductor-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from projects.models import Project  # noqa: E402
from runs.entries.formats import normalizer  # noqa: E402
from runs.entries.replay import entries_of, log_chunks  # noqa: E402
from runs.models import Attempt, LogChunk, Run  # noqa: E402
from tasks.models import Task  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "entries" / "claude.jsonl"
CHUNK_BYTES = 64 * 1024


def session_lines(repeat: int) -> list[str]:
    lines = FIXTURE.read_text().splitlines()
    return [line.replace("toolu_01", f"toolu_{n}_") for n in range(repeat) for line in lines]


def stored_run(lines: list[str]) -> Run:
    project, _ = Project.objects.get_or_create(id="bench")
    task = Task.objects.create(project=project, task_id="entries", prompt="", agent_type="claude")
    attempt = Attempt.objects.create(task=task, agent="claude")
    run = Run.objects.create(attempt=attempt, status="success")
    chunks, piece, size = [], [], 0
    for line in lines:
        piece.append(line + "\n")
        size += len(line) + 1
        if size >= CHUNK_BYTES:
            chunks.append("".join(piece))
            piece, size = [], 0
    chunks.append("".join(piece))
    now = timezone.now()
    LogChunk.objects.bulk_create(
        LogChunk(
            run=run,
            seq=seq,
            stream="stdout",
            text=text,
            line_count=text.count("\n"),
            created_at=now,
        )
        for seq, text in enumerate(chunks, 1)
    )
    return run


def timed(action: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def report(label: str, lines: int, times: list[float]) -> None:
    rates = sorted(lines / t for t in times)
    print(
        f"{label:<34} {rates[0]:>12,.0f} {statistics.median(rates):>12,.0f} "
        f"{rates[-1]:>12,.0f} lines/s  ({min(times):.2f} to {max(times):.2f} s)"
    )


def normalize(chunks: list[str]) -> None:
    feed = normalizer("claude")
    for text in chunks:
        feed.feed("stdout", text)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    lines = session_lines(args.repeat)
    run = stored_run(lines)
    chunks = [text for _, _, text in log_chunks(run.id)]
    size = sum(map(len, chunks))
    print(f"{len(lines):,} lines, {size / 1e6:.1f} MB, {len(chunks)} chunks")
    print(f"{'':<34} {'min':>12} {'median':>12} {'max':>12}")
    report(
        "read the chunks only",
        len(lines),
        timed(lambda: sum(1 for _ in log_chunks(run.id)), args.rounds),
    )
    report(
        "entries_of(after=0, limit=200)",
        len(lines),
        timed(lambda: entries_of(run, limit=200), args.rounds),
    )
    report(
        "normalizer alone, in memory",
        len(lines),
        timed(lambda: normalize(chunks), args.rounds),
    )


if __name__ == "__main__":
    main()
