"""`GET /api/v1/runs/<id>/stream`: replay, live lines, resume, keepalive and many clients,
with real HTTP clients against a real `conductor serve`."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.messagebus.test_stream_support import (
    Conductor,
    EventStream,
    conductor,
    counting,
    expected_lines,
    gated,
    is_done,
    logs,
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Conductor]:
    with conductor(tmp_path_factory.mktemp("run-log")) as running:
        yield running


def test_it_replays_a_finished_run_then_its_status_and_done_and_closes(app: Conductor) -> None:
    _, run_id = app.start_task(counting(50) + "; echo oops >&2")
    app.finished_run(run_id)

    with EventStream(app, f"/api/v1/runs/{run_id}/stream") as stream:
        assert stream.status == 200
        assert stream.response.getheader("Content-Type") == "text/event-stream"
        assert stream.response.getheader("Cache-Control") == "no-cache"
        assert stream.response.getheader("X-Accel-Buffering") == "no"
        events = stream.rest()

    lines = logs(events)
    by_stream = {
        name: [e.json()["line"] for e in lines if e.json()["stream"] == name]
        for name in ("stdout", "stderr")
    }
    assert by_stream == {"stdout": expected_lines(50), "stderr": ["oops"]}  # two pipes: no order
    assert all(set(e.json()) == {"type", "timestamp", "line", "stream"} for e in lines)
    assert all(e.event == "message" and e.id for e in lines)
    assert len({e.id for e in lines}) == len(lines)
    assert [e.json() for e in events[len(lines) :]] == [
        {"type": "status", "status": "success", "exit_code": 0},
        {"type": "done"},
    ]


def test_a_running_runs_lines_arrive_live_in_order_with_none_lost(app: Conductor) -> None:
    task_id, run_id = app.start_task(gated(counting(50, pause=0.02)))

    with EventStream(app, f"/api/v1/runs/{run_id}/stream") as stream:
        first = stream.until(lambda e: e.json()["type"] == "status")
        assert first[-1].json()["status"] in ("created", "running")  # the document's words
        app.open_gate(task_id)
        events = stream.rest()

    assert not logs(first)
    assert [e.json()["line"] for e in logs(events)] == expected_lines(50)
    assert events[-2].json() == {"type": "status", "status": "success", "exit_code": 0}
    stored = app.request("GET", f"/api/v1/runs/{run_id}")[1]["output"]
    assert "".join(e.json()["line"] + "\n" for e in logs(events)) == stored


def test_reconnecting_with_the_last_event_id_resumes_with_no_gap_and_no_duplicate(
    app: Conductor,
) -> None:
    task_id, run_id = app.start_task(gated(counting(80, pause=0.01)))
    path = f"/api/v1/runs/{run_id}/stream"

    with EventStream(app, path) as stream:
        app.open_gate(task_id)
        seen = logs(stream.until(lambda e: e.json().get("line") == "line 20"))
    with EventStream(app, path, last_event_id=seen[-1].id) as stream:
        rest = logs(stream.rest())

    assert [e.json()["line"] for e in seen + rest] == expected_lines(80)
    assert len({e.id for e in seen + rest}) == 80


def test_after_is_a_cursor_too_even_inside_a_chunk(app: Conductor) -> None:
    _, run_id = app.start_task(counting(30))  # no pause: the lines share chunks
    app.finished_run(run_id)
    path = f"/api/v1/runs/{run_id}/stream"
    with EventStream(app, path) as stream:
        every = logs(stream.rest())

    for cut in (0, 9, 28, 29):
        with EventStream(app, f"{path}?after={every[cut].id}") as stream:
            rest = stream.rest()
        assert [e.id for e in logs(rest)] == [e.id for e in every[cut + 1 :]]
        assert is_done(rest[-1])


def test_a_silent_stream_sends_keepalive_comments(app: Conductor) -> None:
    task_id, run_id = app.start_task(gated("echo late"))
    with EventStream(app, f"/api/v1/runs/{run_id}/stream") as stream:
        lines = stream.until_comment("keepalive", timeout=20)
        assert lines[0] == ": connected"
        app.open_gate(task_id)
        assert [e.json()["line"] for e in logs(stream.rest())] == ["late"]


def test_bad_requests_get_the_house_error_shape(app: Conductor) -> None:
    _, run_id = app.start_task("true")
    cases = [
        ("/api/v1/runs/run-nope/stream", None, 404, "NOT_FOUND"),
        ("/api/v1/runs/bad.id/stream", None, 400, "BAD_REQUEST"),
        (f"/api/v1/runs/{run_id}/stream?after=12", None, 400, "BAD_REQUEST"),
        (f"/api/v1/runs/{run_id}/stream", "x:1", 400, "BAD_REQUEST"),
    ]
    for path, last_id, status, code in cases:
        with EventStream(app, path, last_event_id=last_id) as stream:
            assert stream.status == status, path
            assert stream.error()["code"] == code
    status, body = app.request("POST", f"/api/v1/runs/{run_id}/stream", {})
    assert (status, body["code"]) == (405, "METHOD_NOT_ALLOWED")


def test_a_hundred_open_streams_do_not_stall_the_server(app: Conductor) -> None:
    """...nor hold a thread or a database connection each while they wait."""
    task_id, run_id = app.start_task(gated(counting(100, pause=0.01)))
    before = _threads_and_connections(app)
    streams = [EventStream(app, f"/api/v1/runs/{run_id}/stream") for _ in range(100)]
    for stream in streams:  # each one subscribed, replayed, and now waits
        assert stream.status == 200
        stream.until(lambda e: e.json()["type"] == "status")
    waiting = _threads_and_connections(app)
    assert waiting[0] - before[0] < 50, f"threads: {before[0]} before, {waiting[0]} now"
    assert waiting[1] - before[1] < 50, f"SQLite files: {before[1]} before, {waiting[1]} now"
    started = time.monotonic()
    assert app.request("GET", "/api/v1/health")[0] == 200
    assert time.monotonic() - started < 5, "health answered slowly with 100 streams open"

    results: dict[int, list[str]] = {}

    def read(index: int, stream: EventStream) -> None:
        with stream:
            results[index] = [e.json()["line"] for e in logs(stream.rest())]

    readers = [threading.Thread(target=read, args=item) for item in enumerate(streams)]
    for reader in readers:
        reader.start()
    app.open_gate(task_id)
    for reader in readers:
        reader.join(120)
    assert len(results) == 100
    assert all(lines == expected_lines(100) for lines in results.values())


def _threads_and_connections(app: Conductor) -> tuple[int, int]:
    """The server's threads, and its open handles on the SQLite database file."""
    proc = Path(f"/proc/{app.server.popen.pid}")
    links = []
    for fd in (proc / "fd").iterdir():
        with contextlib.suppress(OSError):
            links.append(os.readlink(fd))
    database = [link for link in links if link.endswith("conductor.sqlite3")]
    return len(list((proc / "task").iterdir())), len(database)


def test_the_stream_of_a_run_that_failed_ends_with_its_exit_code(app: Conductor) -> None:
    _, run_id = app.start_task("echo bye; exit 3")
    app.finished_run(run_id)
    with EventStream(app, f"/api/v1/runs/{run_id}/stream") as stream:
        events = stream.rest()
    assert [e.json() for e in events[-2:]] == [
        {"type": "status", "status": "failed", "exit_code": 3},
        {"type": "done"},
    ]
