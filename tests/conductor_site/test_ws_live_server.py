"""The WebSocket endpoints on a real `conductor serve` (Daphne), read by a real WebSocket
client (`websockets`): a browser-style ticket opens one connection to a run's conversation, a
recorded Claude session printed by a real agent process; the key header opens the board; a
log read in two connections, the second resumed from the first's cursor, is whole; and a
running agent's log read by two WebSocket clients and an SSE client, one WebSocket cut off
mid-run and reconnected with its cursor, is the same whole log in all three."""

from __future__ import annotations

import asyncio
import json
import shlex
import urllib.request
from collections.abc import Callable
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


async def ws_log(
    url: str, until: Callable[[list[str]], bool] | None = None
) -> tuple[list[str], str]:
    """A run's log lines read over `/ws/runs/<r>/logs/`, and the last cursor: to the end, or,
    with `until`, cut off (the connection aborted, no close frame) once `until(lines)`."""
    lines: list[str] = []
    cursor = ""
    async with connect(url, open_timeout=30, max_size=None) as ws:
        async for text in ws:
            frame = json.loads(text)
            if frame["type"] == "log":
                lines += frame["text"].split("\n")[:-1]
                cursor = frame["cursor"]
                if until is not None and until(lines):
                    ws.transport.abort()
                    break
    return lines, cursor


async def sse_log(port: int, run_id: str) -> list[str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /api/v1/runs/{run_id}/stream HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    lines: list[str] = []
    while line := await reader.readline():
        if line.startswith(b'data: {"type":"log"'):
            lines.append(json.loads(line[6:])["line"])
        elif line.startswith(b'data: {"type":"done"'):
            break
    writer.close()
    return lines


def test_two_websockets_and_an_sse_client_hold_the_same_whole_log_after_a_reconnect(
    tmp_path: Path, git_repo: Path
) -> None:
    go = tmp_path / "go"
    server = Server(tmp_path / "data", tmp_path / "server.log")
    try:
        project = {"project_id": "demo", "project_root": str(git_repo)}
        assert server.request("POST", "/api/projects", project)[0] == 201
        prompt = (
            "for i in $(seq 1 300); do echo line $i; done; "
            f"while [ ! -e {go} ]; do sleep 0.02; done; "
            "for i in $(seq 301 600); do echo line $i; done"
        )
        task = {"project_id": "demo", "task_id": "t1", "agent_type": "shell", "prompt": prompt}
        status, created = server.request("POST", "/api/v1/tasks", task)
        assert status == 201, created
        url = f"ws://127.0.0.1:{server.port}/ws/runs/{created['run_id']}/logs/"

        async def session() -> tuple[list[str], list[str], list[str]]:
            whole = asyncio.create_task(ws_log(url))
            sse = asyncio.create_task(sse_log(server.port, created["run_id"]))
            first, cursor = await ws_log(url, until=lambda lines: "line 300" in lines)
            go.touch()  # the rest comes while the cut client is away
            rest, _ = await ws_log(f"{url}?after={cursor}")
            return (await whole)[0], first + rest, await sse

        held = asyncio.run(asyncio.wait_for(session(), 120))
    finally:
        server.terminate()
    every_line = [f"line {n}" for n in range(1, 601)]
    assert held == (every_line, every_line, every_line)
