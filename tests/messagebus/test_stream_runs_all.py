"""`GET /api/v1/runs/stream/all`: the document's unnamed events and the UI's named ones."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from tests.conftest import wait_for
from tests.messagebus.test_stream_support import Conductor, Event, EventStream, conductor, gated


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Conductor]:
    with conductor(tmp_path_factory.mktemp("runs-all")) as running:
        yield running


def _of(run_id: str, events: list[Event]) -> list[tuple[str, dict]]:
    return [(e.event, e.json()) for e in events if e.json().get("run_id") == run_id]


def _ended(run_id: str) -> Callable[[Event], bool]:
    def check(event: Event) -> bool:
        data = event.json()
        ended = data.get("status") in ("completed", "failed", "stopped")
        return event.event == "status" and data["run_id"] == run_id and ended

    return check


def test_a_new_run_is_reported_created_started_and_updated(app: Conductor) -> None:
    with EventStream(app, "/api/v1/runs/stream/all") as stream:
        assert stream.status == 200
        assert stream.response.getheader("Content-Type") == "text/event-stream"
        task_id, run_id = app.start_task("echo hi")
        events = stream.until(_ended(run_id))

    ids = {"run_id": run_id, "project_id": "demo", "task_id": task_id}
    unnamed = [data for name, data in _of(run_id, events) if name == "message"]
    assert unnamed == [
        {"type": "run_created", **ids, "status": "created", "kind": "agent"},  # the document's
        {"type": "run_started", **ids, "status": "running", "kind": "agent"},
        {"type": "run_updated", **ids, "status": "success", "exit_code": 0, "kind": "agent"},
    ]
    named = [(name, data) for name, data in _of(run_id, events) if name != "message"]
    assert named == [  # the UI's words
        ("status", {"type": "run_updated", **ids, "status": "queued", "exit_code": -1}),
        ("status", {"type": "run_updated", **ids, "status": "running", "exit_code": -1}),
        ("log", ids),
        ("status", {"type": "run_updated", **ids, "status": "completed", "exit_code": 0}),
    ]
    assert all(e.id for e in events if e.json().get("run_id") == run_id)


def test_a_first_connect_opens_with_the_state_of_every_active_run(app: Conductor) -> None:
    """However long ago it started: the current state first (CodeForge's convention), then
    what happens next. A reconnect with a cursor gets only what happened after it."""
    task_id, run_id = app.start_task(gated("echo late"))
    wait_for(
        lambda: app.request("GET", f"/api/v1/runs/{run_id}/info")[1]["status"] == "running",
        what="the run to start",
    )
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(app.data / "conductor.sqlite3") as db:
        db.execute(
            "UPDATE runs_run SET created_at = ?, started_at = ? WHERE id = ?",
            (an_hour_ago, an_hour_ago, run_id),
        )

    with EventStream(app, "/api/v1/runs/stream/all") as stream:
        opening = stream.until(lambda e: e.event == "status" and e.json()["run_id"] == run_id)
        app.open_gate(task_id)
        events = opening + stream.until(_ended(run_id))

    ids = {"run_id": run_id, "project_id": "demo", "task_id": task_id}
    assert _of(run_id, events)[:2] == [
        ("message", {"type": "run_started", **ids, "status": "running", "kind": "agent"}),
        ("status", {"type": "run_updated", **ids, "status": "running", "exit_code": -1}),
    ]
    assert _of(run_id, events)[-1][1]["status"] == "completed"
    started = next(e for e in events if e.json().get("run_id") == run_id)
    with EventStream(app, "/api/v1/runs/stream/all", last_event_id=started.id) as stream:
        replayed = stream.until(_ended(run_id))
    assert [data["type"] for name, data in _of(run_id, replayed) if name == "message"] == [
        "run_updated"
    ]


def test_a_failed_run_is_failed_with_its_exit_code_in_the_ui_words(app: Conductor) -> None:
    with EventStream(app, "/api/v1/runs/stream/all") as stream:
        _, run_id = app.start_task("exit 4")
        last = stream.until(_ended(run_id))[-1]
    assert (last.json()["status"], last.json()["exit_code"]) == ("failed", 4)


def test_reconnecting_with_the_last_event_id_replays_what_happened_since(app: Conductor) -> None:
    with EventStream(app, "/api/v1/runs/stream/all") as stream:
        _, run_id = app.start_task("echo hi")
        created = stream.until(
            lambda e: e.json() == {**e.json(), "type": "run_created", "run_id": run_id}
        )[-1]
    app.finished_run(run_id)

    with EventStream(app, "/api/v1/runs/stream/all", last_event_id=created.id) as stream:
        events = stream.until(_ended(run_id))
    replayed = [data["type"] for name, data in _of(run_id, events) if name == "message"]
    assert replayed == ["run_started", "run_updated"]


def test_a_cursor_with_an_offset_means_the_same_instant(app: Conductor) -> None:
    with EventStream(app, "/api/v1/runs/stream/all") as stream:
        _, run_id = app.start_task("echo hi")
        created = stream.until(
            lambda e: e.json() == {**e.json(), "type": "run_created", "run_id": run_id}
        )[-1]
    app.finished_run(run_id)
    plus_two = datetime.fromisoformat(str(created.id)).astimezone(timezone(timedelta(hours=2)))

    with EventStream(app, f"/api/v1/runs/stream/all?after={quote(plus_two.isoformat())}") as stream:
        events = stream.until(_ended(run_id))
    replayed = [data["type"] for name, data in _of(run_id, events) if name == "message"]
    assert replayed == ["run_started", "run_updated"]


BAD_CURSORS = [
    "yesterday",
    "2026-01-01T10:00:00",  # no zone: ambiguous
    "2026-13-45T10:00:00Z",  # the shape of a time, not a date
    "2026-01-01T10:00:00+99:00",  # no such offset
    "9999-12-31T23:00:00-23:00",  # after the calendar's end in UTC
    "0001-01-01T00:00:00+23:00",  # before its start
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_a_bad_cursor_is_refused(app: Conductor, cursor: str) -> None:
    with EventStream(app, f"/api/v1/runs/stream/all?after={quote(cursor)}") as stream:
        assert stream.status == 400
        assert stream.error()["code"] == "BAD_REQUEST"
    with EventStream(app, "/api/v1/runs/stream/all", last_event_id=cursor) as stream:
        assert stream.status == 400
        assert cursor in stream.error()["error"]
