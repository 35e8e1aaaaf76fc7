"""The live diff in production mode: a real `conductor worker` owns the worktree, watches it
and publishes through Redis; a production `conductor serve` streams it to a real WebSocket
client, and asks the worker for the whole diff while the agent runs (runs/owner.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from rest_framework.test import APIClient
from websockets.asyncio.client import connect

from projects import storage
from projects.models import Project
from runs.models import Run, RunStatus
from tests.conftest import create_task, wait_for
from tests.processes import ConductorProcess, Server
from tests.runs.test_ws_diff import DiffClient, has, last_type

pytestmark = pytest.mark.production

AGENT = """gate() { while [ ! -f "$CONDUCTOR_TASK_DIR/$1" ]; do sleep 0.01; done; }
gate write; printf 'from the worker\\n' > new.txt
gate end
"""


def test_a_worker_process_s_changes_reach_the_client_over_redis(
    start_worker: Callable[..., ConductorProcess],
    start_server: Callable[..., Server],
    api: APIClient,
    project: Project,
) -> None:
    worker = start_worker()
    server = start_server()
    run_id = create_task(api, prompt=AGENT)["run_id"]
    run = wait_for(
        lambda: Run.objects.filter(id=run_id, status=RunStatus.RUNNING).first(), 60, "the run"
    )
    gates = storage.task_dir("demo", "t1")
    url = f"ws://127.0.0.1:{server.port}/ws/attempts/{run.attempt_id}/diff/"

    async def session() -> DiffClient:
        async with connect(url) as ws:
            client = DiffClient(ws)
            first = await client.until(lambda c: len(c.frames) == 2)
            assert first[1]["diff"]["source"] == "worktree"  # asked of the worker
            (gates / "write").touch()
            await client.until(has("None->new.txt"))
            (gates / "end").touch()
            await client.until(last_type("done"))
            assert await client.close_code() == 1000
            return client

    client = asyncio.run(session())
    live = [f for f in client.frames if f["type"] == "files"]
    assert live and live[-1]["files"][0]["new_content"] == "from the worker\n"
    assert client.frames[-2]["diff"]["source"] == "snapshot"
    assert client.files["None->new.txt"]["new_content"] == "from the worker\n"
    assert run.attempt.worker == worker.name  # type: ignore[attr-defined]
