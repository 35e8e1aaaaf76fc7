"""The WebSockets in production mode: a separate `conductor worker` runs the task, and its
changes and log reach the server's WebSocket clients through Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from conductor_site.live.engine import db
from projects.models import AgentProfile, Project
from runs.entries.formats import normalizer
from tests.conftest import create_task
from tests.helpers import Ws, ws_session
from tests.processes import ConductorProcess
from tests.runs.test_entries_api import CLAUDE_FIXTURE

pytestmark = pytest.mark.production


def ended(frame: dict[str, Any]) -> bool:
    payload = frame.get("payload", {})
    return frame["type"] == "run.changed" and payload["status"] in ("success", "failed")


def test_the_board_and_the_conversation_of_a_worker_run(
    start_worker: Callable[..., ConductorProcess],
    api: APIClient,
    project: Project,
    ws_layer: None,
) -> None:
    start_worker()
    AgentProfile.objects.create(
        name="replay", agent_type="custom", command=f"cat {shlex.quote(str(CLAUDE_FIXTURE))}"
    )

    async def session() -> tuple[str, list[dict[str, Any]]]:
        async with Ws("/ws/projects/demo/board/") as board:
            await board.until(lambda f: f["type"] == "queue")
            created = await db(lambda: create_task(api, agent_type="replay"))
            run_id = str(created["run_id"])
            return run_id, await board.until(ended)

    run_id, frames = asyncio.run(session())
    statuses = [f["payload"]["status"] for f in frames if f["type"] == "run.changed"]
    assert statuses[-1] == "success" and "running" in statuses
    assert any(f["type"] == "task.changed" for f in frames)

    conversation, code = ws_session(f"/ws/runs/{run_id}/entries/")
    held = {f["index"]: f["entry"] for f in conversation if f["type"] == "entry"}
    assert held == dict(normalizer("claude").feed("stdout", CLAUDE_FIXTURE.read_text()))
    assert conversation[-1] == {"type": "done"} and code == 1000
