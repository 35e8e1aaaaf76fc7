"""Every line an agent prints is stored, in order, in batches: floods, long lines, the cap."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from projects import storage
from projects.models import Project
from runs.logsink import LineSplitter
from runs.models import LogChunk, Run
from runs.supervisor import READ_SIZE, Invocation, ProcessResult, execute
from tests.conftest import create_task, log_text, run_finished, wait_for


def test_a_200000_line_flood_is_stored_whole_with_contiguous_seq(
    work: str, api: APIClient, project: Project
) -> None:
    run = run_finished(create_task(api, prompt="seq 1 200000")["run_id"], timeout=120)

    assert run.status == "success"
    seqs = list(LogChunk.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) < 2000, "lines are batched, not written one by one"
    assert log_text(run.id) == "".join(f"{i}\n" for i in range(1, 200001))
    assert (run.log_lines, run.log_truncated) == (200000, False)


def test_a_one_mebibyte_line_is_kept_intact(work: str, api: APIClient, project: Project) -> None:
    prompt = "head -c 1048576 /dev/zero | tr '\\0' x; echo; echo after"
    run = run_finished(create_task(api, prompt=prompt)["run_id"])

    lines = log_text(run.id).split("\n")
    assert lines[0] == "x" * 1048576
    assert lines[1:] == ["after", ""]


def test_stdout_and_stderr_are_kept_apart(work: str, api: APIClient, project: Project) -> None:
    run = run_finished(create_task(api, prompt="echo out; echo err >&2")["run_id"])

    assert log_text(run.id, "stdout") == "out\n"
    assert log_text(run.id, "stderr") == "err\n"


def test_past_the_byte_cap_the_run_goes_on_and_the_tail_is_kept(
    work: str, api: APIClient, project: Project, settings: Any
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "LOG_MAX_BYTES": 200_000, "LOG_TAIL_BYTES": 20_000}

    run = run_finished(create_task(api, prompt="seq 1 100000; echo finished")["run_id"])

    assert run.status == "success", "the cap never stops the process"
    text = log_text(run.id)
    assert run.log_truncated
    assert len(text.encode()) <= 200_000 + 1000
    assert text.startswith("1\n2\n3\n")
    assert "[conductor] output passed the 200000-byte log cap" in text
    assert "lines" in text and "were not stored; the last lines of the run follow" in text
    assert text.endswith("99999\n100000\nfinished\n")
    assert run.log_bytes == len(text.encode())


def test_output_without_a_final_newline_is_kept() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\ntw") == "one\n"
    assert splitter.feed(b"o") == ""
    assert splitter.finish() == "two\n"


def test_a_multibyte_character_split_across_reads_survives() -> None:
    splitter = LineSplitter()
    data = "héllo\n".encode()
    assert splitter.feed(data[:2]) + splitter.feed(data[2:]) == "héllo\n"


def test_a_line_past_the_line_cap_is_cut_with_a_marker(settings: Any) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "LOG_MAX_LINE_BYTES": 10}
    splitter = LineSplitter()
    text = splitter.feed(b"a" * 25) + splitter.feed(b"b" * 5 + b"\nok\n")

    assert text == "aaaaaaaaaa [conductor: line cut, 20 more characters dropped]\nok\n"


def test_fifty_concurrent_runs_on_one_worker_all_finish_with_every_line(
    work: str, api: APIClient, project: Project
) -> None:
    prompt = 'for i in $(seq 1 200); do echo "$CONDUCTOR_TASK_ID $i"; sleep 0.005; done'
    run_ids = [create_task(api, task_id=f"t{n}", prompt=prompt)["run_id"] for n in range(50)]

    runs = [run_finished(run_id, timeout=240) for run_id in run_ids]

    failures = [
        (r.status, r.error_summary, r.attempt.error_summary) for r in runs if r.status != "success"
    ]
    assert not failures
    assert len({run.attempt.worktree_path for run in runs}) == 50
    for n, run in enumerate(runs):
        assert log_text(run.id) == "".join(f"t{n} {i}\n" for i in range(1, 201))
    assert Run.objects.filter(status="running").count() == 0


# A database write that fails for real: a trigger on the chunk table, dropped to "recover".

FAILING_TRIGGERS = {
    # SQLite compiles a trigger's body with each insert: a missing table is an OperationalError.
    "operational": "INSERT INTO no_such_table VALUES (1)",
    # RAISE is a constraint failure: an IntegrityError.
    "integrity": "SELECT RAISE(ABORT, 'the disk said no')",
}


@pytest.fixture(params=FAILING_TRIGGERS)
def failing_writes(work: str, request: pytest.FixtureRequest) -> Iterator[Callable[[], None]]:
    """Every LogChunk insert fails until the returned function is called (or the test ends)."""

    def recover() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS fail_chunks")

    body = FAILING_TRIGGERS[request.param]
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TRIGGER fail_chunks BEFORE INSERT ON runs_logchunk BEGIN {body}; END"
        )
    yield recover
    recover()


def test_after_failed_writes_the_retry_keeps_seq_contiguous_and_every_line_once(
    failing_writes: Callable[[], None], api: APIClient, project: Project, caplog: Any
) -> None:
    prompt = (
        "seq 1 300; echo err >&2\n"
        'while [ ! -f "$CONDUCTOR_TASK_DIR/go" ]; do sleep 0.02; done\n'
        "seq 301 600"
    )
    run_id = create_task(api, task_id="t-retry", prompt=prompt)["run_id"]
    errors = lambda: sum(record.name == "runs.logsink" for record in caplog.records)  # noqa: E731
    wait_for(lambda: errors() >= 3, what="three failed writes")
    failing_writes()
    (storage.task_dir("demo", "t-retry") / "go").touch()

    run = run_finished(run_id)

    assert run.status == "success", run.error_summary
    seqs = list(LogChunk.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert log_text(run.id, "stdout") == "".join(f"{i}\n" for i in range(1, 601))
    assert log_text(run.id, "stderr") == "err\n"
    assert (run.log_lines, run.log_bytes) == (601, len(log_text(run.id).encode()))


def test_a_run_whose_writes_keep_failing_ends_and_says_so(
    failing_writes: Callable[[], None], api: APIClient, project: Project
) -> None:
    run = run_finished(create_task(api, task_id="t-lost", prompt="seq 1 100")["run_id"])

    assert "log chunks could not be stored" in run.error_summary
    assert (run.log_lines, run.log_bytes) == (0, 0), "the totals say what was stored"
    assert not LogChunk.objects.filter(run=run).exists()


# Bounded memory: a flood waits on its pipe instead of piling up in the writer.

FLOOD_LINES = 2_000_000  # 14.9 MB of `seq`


def _flood(run_id: str, cwd: Path, spawned: list[int]) -> tuple[threading.Thread, list[Any]]:
    """`seq 1 FLOOD_LINES` through the real supervisor and writer, on a thread of its own."""
    results: list[ProcessResult] = []
    invocation = Invocation(["seq", "1", str(FLOOD_LINES)], str(cwd), dict(os.environ))
    thread = threading.Thread(
        target=lambda: results.append(execute(run_id, invocation, on_spawn=spawned.append))
    )
    thread.start()
    return thread, results


def _a_finished_run(api: APIClient, task_id: str) -> Run:
    """A real run row (its own output is empty) for `_flood` to write into."""
    run = run_finished(create_task(api, task_id=task_id, prompt="true")["run_id"])
    assert not LogChunk.objects.filter(run=run).exists()
    return run


def _flood_stored_whole(run: Run) -> None:
    seqs = list(LogChunk.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert log_text(run.id) == "".join(f"{i}\n" for i in range(1, FLOOD_LINES + 1))


def _waits_on_its_pipe(pid: int) -> bool:
    """The process sleeps in the kernel writing to a full pipe (`pipe_write`,
    `anon_pipe_write` or `pipe_wait`, by kernel version)."""
    try:
        return "pipe" in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False


def test_a_flood_holds_at_most_the_pending_bound_in_memory(
    work: str, api: APIClient, project: Project, settings: Any, tmp_path: Path
) -> None:
    bound = 256 * 1024
    settings.CONDUCTOR = {**settings.CONDUCTOR, "LOG_PENDING_BYTES": bound}
    run = _a_finished_run(api, "t-flood")

    thread, results = _flood(run.id, tmp_path, [])
    thread.join(240)

    assert results and results[0].exit_code == 0
    # what waits (the bound and one more read) plus the batch being written (as much again)
    assert results[0].totals.peak_held_bytes <= 2 * (bound + 2 * READ_SIZE)
    _flood_stored_whole(run)


def test_a_flood_while_writes_fail_waits_on_its_pipe_and_loses_nothing(
    failing_writes: Callable[[], None],
    api: APIClient,
    project: Project,
    settings: Any,
    tmp_path: Path,
) -> None:
    bound = 256 * 1024
    run = _a_finished_run(api, "t-outage")  # prints nothing: no chunk insert fails yet
    settings.CONDUCTOR = {**settings.CONDUCTOR, "LOG_PENDING_BYTES": bound}
    spawned: list[int] = []

    thread, results = _flood(run.id, tmp_path, spawned)
    wait_for(lambda: spawned and _waits_on_its_pipe(spawned[0]), what="seq blocked on its pipe")
    failing_writes()
    thread.join(240)

    assert results and results[0].exit_code == 0, results
    assert results[0].totals.peak_held_bytes <= 2 * (bound + 2 * READ_SIZE)
    _flood_stored_whole(run)
