"""`/ws/events/`: the global event log over a WebSocket: live from now without a cursor, its
history after `after` on request, the filters of `GET /api/v1/events`, and a cursor older than
the pruned history closed with 4410 (start over), never answered with a partial history."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from conductor_site.live.engine import db
from conductor_site.live.history import events_prune, record
from tests.helpers import (
    Ws,
    publish_here,
    recorded_task_change,
    refusal_code,
    ws_refused,
    ws_session,
)


def attempt_changed(project_id: str, task_id: str) -> int:
    event: Any = {
        "type": "attempt.changed",
        "change": "started",
        "attempt_id": "a1",
        "project_id": project_id,
        "task_id": task_id,
        "status": "running",
        "error_summary": "",
    }
    return record(event, []).id


def test_without_a_cursor_it_starts_at_the_newest_event_then_follows_live(
    ws_layer: None,
) -> None:
    old = recorded_task_change("p1", "t1")

    async def session() -> list[dict[str, Any]]:
        publish_here()
        async with Ws("/ws/events/") as ws:
            ready = await ws.frame()
            new = await db(recorded_task_change, "p2", "t2", "moved")
            live = await ws.frame()
        return [ready or {}, live or {}, {"new": new}]

    ready, live, ids = asyncio.run(session())
    assert ready == {"type": "ready", "cursor": str(old)}
    assert (live["id"], live["cursor"], live["type"]) == (
        ids["new"],
        str(ids["new"]),
        "task.changed",
    )
    assert live["payload"]["change"] == "moved" and live["project_id"] == "p2"


def test_history_on_request_then_live_with_the_filters(ws_layer: None) -> None:
    ids = [
        recorded_task_change("p1", "t1"),
        attempt_changed("p1", "t1"),
        recorded_task_change("p2", "t9"),
    ]

    async def session() -> list[dict[str, Any]]:
        publish_here()
        async with Ws("/ws/events/?after=0&project=p1&type=task.changed") as ws:
            frames = await ws.until(lambda f: f["type"] == "ready")
            await db(attempt_changed, "p1", "t1")  # filtered out
            await db(recorded_task_change, "p9", "t1")  # filtered out
            last = await db(recorded_task_change, "p1", "t1", "moved")
            frames += await ws.until(lambda f: f.get("id") == last)
        return frames

    frames = asyncio.run(session())
    assert [(f["type"], f.get("id")) for f in frames] == [
        ("task.changed", ids[0]),
        ("ready", None),
        ("task.changed", frames[-1]["id"]),
    ]
    assert frames[1]["cursor"] == str(ids[0])


def test_a_cursor_older_than_the_pruned_history_closes_4410(
    ws_layer: None, settings: Settings
) -> None:
    first = recorded_task_change("p1", "t1")
    recorded_task_change("p1", "t2")
    settings.CONDUCTOR = {**settings.CONDUCTOR, "EVENTS_KEEP_MAX": 1}
    assert events_prune() == 1

    frames, code = ws_session(f"/ws/events/?after={first - 1}")
    assert refusal_code(frames, code) == 4410 and frames[0]["code"] == "GONE"
    assert frames[0]["details"] == {"after": first - 1, "pruned_through": first}
    frames, _ = asyncio.run(ready_after(first))
    assert [f["type"] for f in frames] == ["task.changed", "ready"]


async def ready_after(cursor: int) -> tuple[list[dict[str, Any]], None]:
    async with Ws(f"/ws/events/?after={cursor}") as ws:
        return await ws.until(lambda f: f["type"] == "ready"), None


@pytest.mark.parametrize(
    "query",
    ["after=x", "after=-1", "type=log.chunk", "project=a%20b", "task=%2F", f"after={'9' * 19}"],
)
def test_bad_filters_and_cursors_close_4400(ws_layer: None, query: str) -> None:
    assert ws_refused(f"/ws/events/?{query}") == 4400
