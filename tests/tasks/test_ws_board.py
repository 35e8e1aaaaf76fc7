"""`/ws/projects/<p>/board/`: a project's board over a WebSocket. A real task created through
the API (and run by the embedded worker), moved and deleted arrives as `task.changed` frames
with the event log's ids as cursors; a reconnect resumes after one; queue positions arrive as
`queue` frames, again when another project's run moves the queue."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.layers import get_channel_layer
from django.utils import timezone
from rest_framework.test import APIClient

from conductor_site.live.engine import db
from conductor_site.live.events import ALL_RUNS_GROUP, RunChanged
from projects.models import Project
from runs.models import Attempt, RunStatus
from tests.conftest import attempt_finished, create_task, run_finished
from tests.helpers import Ws, publish_here, ws_refused
from tests.projects.builders import make_task


def task_change(change: str, column: str | None = None) -> Any:
    def done(frame: dict[str, Any]) -> bool:
        payload = frame.get("payload", {})
        return (
            frame["type"] == "task.changed"
            and payload["change"] == change
            and (column is None or payload["column"] == column)
        )

    return done


def move(api: APIClient, column: str) -> None:
    response = api.post("/api/v1/tasks/t1/move?project_id=demo", {"column": column}, format="json")
    assert response.status_code == 200, response.content


def delete(api: APIClient) -> None:
    assert api.delete("/api/projects/demo/tasks/t1").status_code == 204


def test_the_board_sees_a_task_created_moved_and_deleted(
    work: str, api: APIClient, project: Project, ws_layer: None
) -> None:
    async def session() -> list[dict[str, Any]]:
        publish_here()
        async with Ws("/ws/projects/demo/board/") as ws:
            opening = await ws.until(lambda f: f["type"] == "queue")
            run_id = (await db(create_task, api))["run_id"]
            frames = await ws.until(task_change("created"))
            run = await db(run_finished, run_id)
            await db(attempt_finished, run.attempt_id)  # deleting waits for no active attempt
            await db(move, api, "todo")
            frames += await ws.until(task_change("moved", "todo"))
            await db(delete, api)
            frames += await ws.until(task_change("deleted"))
        return opening + frames

    frames = asyncio.run(session())

    assert frames[0] == {"type": "ready", "cursor": "0"}
    assert frames[1] == {"type": "queue", "positions": {}}
    events = frames[2:]
    assert all(f["project_id"] == "demo" for f in events)
    assert [int(f["cursor"]) for f in events] == sorted({int(f["cursor"]) for f in events})
    assert {f["type"] for f in events} >= {"task.changed", "run.changed", "attempt.changed"}
    created = next(f for f in events if task_change("created")(f))

    resumed, _ = asyncio.run(replayed_after(created["cursor"]))

    assert [f["cursor"] for f in resumed] == [
        f["cursor"] for f in events[events.index(created) + 1 :]
    ]


async def replayed_after(cursor: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What a client reconnecting after `cursor` is sent before `ready`, and after it."""
    async with Ws(f"/ws/projects/demo/board/?after={cursor}") as ws:
        frames = await ws.until(lambda f: f["type"] == "ready")
        tail = await ws.until(lambda f: f["type"] == "queue")
    assert frames[-1] == {
        "type": "ready",
        "cursor": frames[-2]["cursor"] if frames[:-1] else cursor,
    }
    return frames[:-1], tail


def waiting_attempt(project: Project, task_id: str) -> Attempt:
    """An attempt in the queue, that waits on a task yet to come: no planner admits it."""
    task = make_task(project, task_id, depends_on=["later"])
    return Attempt.objects.create(task=task, agent="shell", status=RunStatus.CREATED)


def test_queue_positions_arrive_and_move_when_any_run_changes(
    project: Project, ws_layer: None
) -> None:
    other = Project.objects.create(id="other")
    ahead = waiting_attempt(other, "first")
    waiting_attempt(project, "t1")
    waiting_attempt(project, "t2")
    doorbell: RunChanged = {
        "type": "run.changed",
        "change": "started",
        "run_id": "r1",
        "attempt_id": ahead.id,
        "project_id": "other",
        "task_id": "first",
        "kind": "agent",
        "status": "running",
        "exit_code": None,
    }

    async def session() -> list[dict[str, Any]]:
        async with Ws("/ws/projects/demo/board/") as ws:
            first = await ws.until(lambda f: f["type"] == "queue")
            await db(lambda: Attempt.objects.filter(id=ahead.id).update(admitted_at=timezone.now()))
            await get_channel_layer().group_send(ALL_RUNS_GROUP, doorbell)
            return [first[-1], await ws.frame() or {}]

    before, after = asyncio.run(session())
    assert before == {"type": "queue", "positions": {"t1": 2, "t2": 3}}
    assert after == {"type": "queue", "positions": {"t1": 1, "t2": 2}}


def test_bad_and_unknown_projects_and_cursors_close_with_their_codes(
    project: Project, ws_layer: None
) -> None:
    assert ws_refused("/ws/projects/ghost/board/") == 4404
    assert ws_refused("/ws/projects/a%20b/board/") == 4400
    assert ws_refused("/ws/projects/demo/board/?after=1x") == 4400
