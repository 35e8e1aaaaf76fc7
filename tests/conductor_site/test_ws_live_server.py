"""The WebSocket endpoints on a real `conductor serve` (Daphne), read by a real WebSocket
client (`websockets`): a browser-style ticket opens one connection to a run's conversation, a
recorded Claude session printed by a real agent process; the key header opens the board; a
log read in two connections, the second resumed from the first's cursor, is whole."""

from __future__ import annotations

import asyncio
import json
import shlex
import urllib.request
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from runs.entries.formats import normalizer
from runs.models import TERMINAL_STATUSES
from tests.conftest import wait_for
from tests.helpers import refusal_code
from tests.processes import Server

KEY = "live-sekret"
CLAUDE = Path(__file__).parent.parent / "fixtures" / "entries" / "claude.jsonl"


def keyed(server: Server, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


async def frames_of(
    url: str, headers: dict[str, str] | None = None, stop: str = ""
) -> tuple[list[dict[str, Any]], int | None]:
    """Frames until the server closes (or one of type `stop`), and the close code."""
    frames: list[dict[str, Any]] = []
    async with connect(url, additional_headers=headers or {}, open_timeout=30) as ws:
        try:
            while True:
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
                if frames[-1]["type"] == stop:
                    return frames, None
        except ConnectionClosed:
            return frames, ws.close_code


def test_tickets_header_and_cursors_on_a_live_server(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", tmp_path / "server.log", CONDUCTOR_API_KEY=KEY)
    try:
        check_live_server(server)
    finally:
        server.terminate()
    assert "Traceback" not in server.output(), server.output()


def check_live_server(server: Server) -> None:
    prompt = f"cat {shlex.quote(str(CLAUDE))}"
    body = {"project_id": "demo", "task_id": "t1", "agent_type": "shell", "prompt": prompt}
    run_id = keyed(server, "POST", "/api/v1/tasks", body)["run_id"]
    wait_for(lambda: keyed(server, "GET", f"/api/v1/runs/{run_id}")["status"] in TERMINAL_STATUSES)
    base = f"ws://127.0.0.1:{server.port}/ws"
    ticket = keyed(server, "POST", "/api/v1/ws-tickets")["ticket"]

    frames, code = asyncio.run(frames_of(f"{base}/runs/{run_id}/entries/?ticket={ticket}"))
    held = {f["index"]: f["entry"] for f in frames if f["type"] == "entry"}
    assert held == dict(normalizer("claude").feed("stdout", CLAUDE.read_text()))
    assert frames[-1] == {"type": "done"} and code == 1000
    assert (
        refusal_code(*asyncio.run(frames_of(f"{base}/runs/{run_id}/entries/?ticket={ticket}")))
        == 4401
    )
    assert refusal_code(*asyncio.run(frames_of(f"{base}/events/"))) == 4401
    unknown = f"{base}/runs/{'r' * 128}/entries/"  # its reason is clipped to fit a close frame
    assert refusal_code(*asyncio.run(frames_of(unknown, {"X-API-Key": KEY}))) == 4404

    header = {"Authorization": f"Bearer {KEY}"}
    board, _ = asyncio.run(frames_of(f"{base}/projects/demo/board/?after=0", header, "ready"))
    created = [f for f in board if f["type"] == "task.changed"]
    assert created[0]["task_id"] == "t1" and created[0]["payload"]["change"] == "created"

    whole, _ = asyncio.run(frames_of(f"{base}/runs/{run_id}/logs/", header))
    lines = [f for f in whole if f["type"] == "log"]
    cut = lines[len(lines) // 2]["cursor"]
    rest, _ = asyncio.run(frames_of(f"{base}/runs/{run_id}/logs/?after={cut}", header))
    again = lines[: len(lines) // 2 + 1] + [f for f in rest if f["type"] == "log"]
    assert again == lines and "".join(f["text"] for f in lines) == CLAUDE.read_text()
