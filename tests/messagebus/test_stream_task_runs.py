"""`GET /api/projects/<p>/tasks/<t>/runs/stream`: every run of a task fanned in, as named
`log` events with an id unique per line, between `run_start` and `run_end` markers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.messagebus.test_stream_support import (
    Conductor,
    Event,
    EventStream,
    conductor,
    counting,
    expected_lines,
    gated,
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Conductor]:
    with conductor(tmp_path_factory.mktemp("task-runs")) as running:
        yield running


def _ended(run_id: str) -> Callable[[Event], bool]:
    return lambda e: e.event == "run_end" and e.json()["run_id"] == run_id


def _lines(run_id: str, events: list[Event], stream: str = "stdout") -> list[str]:
    return [
        e.json()["line"]
        for e in events
        if e.event == "log" and e.json()["run_id"] == run_id and e.json()["stream"] == stream
    ]


def test_it_replays_every_run_then_follows_runs_started_later(app: Conductor) -> None:
    task_id, first = app.start_task(counting(5) + "; echo oops >&2")
    app.finished_run(first)

    with EventStream(app, f"/api/projects/demo/tasks/{task_id}/runs/stream") as stream:
        assert stream.status == 200
        assert stream.response.getheader("Content-Type") == "text/event-stream"
        events = stream.until(_ended(first))
        _, second = app.start_task(
            gated(counting(30, pause=0.01)), task_id=task_id, attach_mode="attach"
        )
        events += stream.until(lambda e: e.event == "run_start" and e.json()["run_id"] == second)
        app.open_gate(task_id)
        events += stream.until(_ended(second))

    assert _lines(first, events, "stdout") == expected_lines(5)
    assert _lines(first, events, "stderr") == ["oops"]  # two pipes: no order between them
    assert _lines(second, events) == expected_lines(30)
    log = [e for e in events if e.event == "log"]
    assert all(e.id for e in log)
    assert len({(e.json()["run_id"], e.json()["stream"], e.id) for e in log}) == len(log) == 36
    assert {e.json()["stream"] for e in log if e.json()["line"] == "oops"} == {"stderr"}
    assert set(log[0].json()) == {"run_id", "stream", "line", "timestamp", "project_id", "task_id"}
    kinds = [(e.event, e.json()["run_id"]) for e in events if e.event != "log"]
    assert kinds == [
        ("run_start", first),
        ("run_end", first),
        ("run_start", second),
        ("run_end", second),
    ]
    end = events[-1].json()
    assert (end["status"], end["exit_code"]) == ("completed", 0) and end["end_time"]  # UI's
    assert events[0].json()["agent"] == "shell" and events[0].json()["start_time"]


def test_the_last_event_id_skips_what_the_client_saw_of_that_run(app: Conductor) -> None:
    task_id, run_id = app.start_task(counting(12))
    app.finished_run(run_id)
    path = f"/api/projects/demo/tasks/{task_id}/runs/stream"
    with EventStream(app, path) as stream:
        seen = stream.until(lambda e: e.event == "log" and e.json()["line"] == "line 4")
    with EventStream(app, path, last_event_id=seen[-1].id) as stream:
        rest = stream.until(_ended(run_id))
    assert _lines(run_id, rest) == expected_lines(12)[4:]


def test_unknown_tasks_and_bad_cursors_are_refused(app: Conductor) -> None:
    task_id, _ = app.start_task("true")
    for path, last_id, status in (
        ("/api/projects/demo/tasks/t-nope/runs/stream", None, 404),
        ("/api/projects/nope/tasks/t-nope/runs/stream", None, 404),
        (f"/api/projects/demo/tasks/{task_id}/runs/stream", "3:4", 400),
    ):
        with EventStream(app, path, last_event_id=last_id) as stream:
            assert stream.status == status
            assert stream.error()["code"] == ("BAD_REQUEST" if status == 400 else "NOT_FOUND")


def test_a_deleted_task_ends_its_stream_with_done(app: Conductor) -> None:
    task_id, run_id = app.start_task("echo bye")
    app.finished_run(run_id)

    with EventStream(app, f"/api/projects/demo/tasks/{task_id}/runs/stream") as stream:
        stream.until(lambda e: e.event == "run_end")
        assert app.request("DELETE", f"/api/projects/demo/tasks/{task_id}")[0] == 204
        rest = stream.rest()

    assert [(e.event, e.data) for e in rest] == [("done", "{}")]
