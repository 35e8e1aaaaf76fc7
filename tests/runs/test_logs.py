"""Every line an agent prints is stored, in order, in batches: floods, long lines, the cap."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from projects.models import Project
from runs.logsink import LineSplitter
from runs.models import LogChunk, Run
from tests.conftest import create_task, log_text, run_finished


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
