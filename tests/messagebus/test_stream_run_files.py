"""`GET /api/projects/<p>/tasks/<t>/runs/<r>/stream?name=F`: a run file's raw text from byte 0,
appended as it grows, then `event: done`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.messagebus.test_stream_support import (
    Conductor,
    Event,
    EventStream,
    conductor,
    counting,
    gated,
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Conductor]:
    with conductor(tmp_path_factory.mktemp("run-files")) as running:
        yield running


def _path(task_id: str, run_id: str, name: str) -> str:
    return f"/api/projects/demo/tasks/{task_id}/runs/{run_id}/stream?name={name}"


def _text(events: list[Event]) -> str:
    assert [e.event for e in events[-1:]] == ["done"]
    assert all(e.event == "message" and e.id is None for e in events[:-1])
    return "".join(e.data for e in events[:-1])


def test_stdout_streams_from_byte_zero_as_it_grows_then_done(app: Conductor) -> None:
    script = counting(3) + "\n" + gated(counting(40, pause=0.01) + "; echo oops >&2")
    task_id, run_id = app.start_task(script)

    with EventStream(app, _path(task_id, run_id, "stdout")) as stream:
        assert stream.status == 200
        assert stream.response.getheader("Content-Type") == "text/event-stream"
        first = stream.until(lambda e: "line 3" in e.data)
        app.open_gate(task_id)
        events = first + stream.rest()

    expected = "".join(f"line {i}\n" for i in (1, 2, 3, *range(1, 41)))
    assert _text(events) == expected
    assert len(events) > 2, "the file was appended to, not sent once"


def test_stderr_and_prompt_are_streams_too(app: Conductor) -> None:
    prompt = "echo out; echo err >&2"
    task_id, run_id = app.start_task(prompt)
    app.finished_run(run_id)
    for name, expected in (("stderr", "err\n"), ("prompt", prompt)):
        with EventStream(app, _path(task_id, run_id, name)) as stream:
            assert _text(stream.rest()) == expected


def test_a_chunk_of_several_lines_is_several_data_lines(app: Conductor) -> None:
    task_id, run_id = app.start_task(counting(3))
    app.finished_run(run_id)
    with EventStream(app, _path(task_id, run_id, "stdout")) as stream:
        raw = stream.response.read().decode()
    assert "data: line 1\ndata: line 2\ndata: line 3\ndata: \n\nevent: done\n" in raw


def test_output_md_is_followed_while_the_agent_writes_it(app: Conductor) -> None:
    script = gated(
        'printf "hello\\n" > "$CONDUCTOR_RUN_DIR/output.md"\n'
        'while [ ! -f "$CONDUCTOR_TASK_DIR/more" ]; do sleep 0.02; done\n'
        'printf "world\\n" >> "$CONDUCTOR_RUN_DIR/output.md"'
    )
    task_id, run_id = app.start_task(script)

    with EventStream(app, _path(task_id, run_id, "output.md")) as stream:
        app.open_gate(task_id)
        first = stream.until(lambda e: e.data == "hello\n")
        (app.data / "projects" / "demo" / task_id / "more").touch()
        events = first + stream.rest()

    assert _text(events) == "hello\nworld\n"


def test_bad_names_and_runs_are_refused(app: Conductor) -> None:
    task_id, run_id = app.start_task("true")
    other_task, _ = app.start_task("true")
    cases = [
        (_path(task_id, run_id, "passwd"), 400),
        (f"/api/projects/demo/tasks/{task_id}/runs/{run_id}/stream", 400),
        (_path(other_task, run_id, "stdout"), 404),
        (_path(task_id, "run-nope", "stdout"), 404),
        (_path("bad.task", run_id, "stdout"), 400),
    ]
    for path, status in cases:
        with EventStream(app, path) as stream:
            assert stream.status == status, path
            assert stream.error()["code"] == ("BAD_REQUEST" if status == 400 else "NOT_FOUND")


def test_an_output_md_symlinked_out_streams_nothing(app: Conductor) -> None:
    secret = app.data / "secret.txt"
    secret.write_text("secret-key-value\n")
    task_id, run_id = app.start_task(f'ln -s {secret} "$CONDUCTOR_RUN_DIR/output.md"')
    app.finished_run(run_id)

    with EventStream(app, _path(task_id, run_id, "output.md")) as stream:
        assert _text(stream.rest()) == ""


def test_a_fifo_as_output_md_streams_nothing_and_ends(app: Conductor) -> None:
    task_id, run_id = app.start_task('mkfifo "$CONDUCTOR_RUN_DIR/output.md"')
    app.finished_run(run_id)

    with EventStream(app, _path(task_id, run_id, "output.md")) as stream:
        assert _text(stream.rest()) == ""
