"""`/ws/projects/<p>/messages/` and `/ws/projects/<p>/tasks/<t>/messages/`: the buses over a
WebSocket, the feed of their SSE streams: every message after the cursor, then live in append
order; a reconnect after the last cursor seen repeats nothing and misses nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from conductor_site.live.engine import db
from messagebus.services import message_append
from projects.models import Project
from tests.helpers import Ws, publish_here, ws_refused
from tests.projects.builders import make_task


def append(body: str, task_id: str | None = "t1") -> str:
    return message_append(project_id="demo", task_id=task_id, type="FACT", body=body).msg_id


def test_the_project_bus_replays_then_follows_live_then_resumes(
    project: Project, ws_layer: None
) -> None:
    make_task(project, "t1")
    first = append("one", None)

    async def session() -> list[dict[str, Any]]:
        publish_here()
        async with Ws("/ws/projects/demo/messages/") as ws:
            frames = [await ws.frame() or {}]
            await db(append, "two")
            frames.append(await ws.frame() or {})
        return frames

    replayed, live = asyncio.run(session())
    assert replayed["type"] == "message" and replayed["cursor"] == first
    assert replayed["message"]["body"] == "one" and replayed["message"]["type"] == "FACT"
    assert (live["message"]["body"], live["message"]["task_id"]) == ("two", "t1")
    later = append("three")

    async def resumed() -> dict[str, Any]:
        async with Ws(f"/ws/projects/demo/messages/?after={live['cursor']}") as ws:
            return await ws.frame() or {}

    frame = asyncio.run(resumed())
    assert (frame["type"], frame["cursor"], frame["message"]["body"]) == ("message", later, "three")


def test_a_task_bus_carries_only_that_task(project: Project, ws_layer: None) -> None:
    make_task(project, "t1")
    make_task(project, "t2")
    append("elsewhere", "t2")
    mine = append("mine")

    async def session() -> dict[str, Any]:
        async with Ws("/ws/projects/demo/tasks/t1/messages/") as ws:
            return await ws.frame() or {}

    frame = asyncio.run(session())
    assert (frame["cursor"], frame["message"]["body"]) == (mine, "mine")


def test_unknown_buses_and_cursors_close_4404_bad_ones_4400(
    project: Project, ws_layer: None
) -> None:
    assert ws_refused("/ws/projects/ghost/messages/") == 4404
    assert ws_refused("/ws/projects/demo/tasks/ghost/messages/") == 4404
    assert ws_refused("/ws/projects/demo/messages/?after=MSG-nope") == 4404
    assert ws_refused("/ws/projects/demo/messages/?after=a%20b") == 4400
    assert ws_refused("/ws/projects/a%20b/messages/") == 4400
