"""A client that stops reading a stream, next to one that reads, on a real `conductor serve`:
the reader gets every line, the agent and the writer are not slowed; the stalled one gets
`lagged` and then the rest from the database when it reads on, or is dropped when it stays
stalled (conductor_site/live/backpressure.py)."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from conductor_site.live.backpressure import Pace, Wire, keep_up
from tests.conftest import wait_for
from tests.helpers import ws_log_lines
from tests.processes import Server

LINES = 100_000
TCP_CLOSE = 7


@pytest.fixture
def flood(tmp_path: Path, git_repo: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A server, a task whose agent floods `LINES` lines once `go` exists; yields (server, run
    id, go). The stall limit is the test's parameter."""
    server = Server(
        tmp_path / "data",
        tmp_path / "server.log",
        CONDUCTOR_STREAM_SEND_BUFFER_BYTES="65536",
        CONDUCTOR_STREAM_STALL_SECONDS=str(request.param),
    )
    go = tmp_path / "go"
    try:
        project = {"project_id": "demo", "project_root": str(git_repo)}
        assert server.request("POST", "/api/projects", project)[0] == 201
        prompt = f"while [ ! -e {go} ]; do sleep 0.02; done; seq 1 {LINES}"
        task = {"project_id": "demo", "task_id": "t1", "agent_type": "shell", "prompt": prompt}
        status, created = server.request("POST", "/api/v1/tasks", task)
        assert status == 201, created
        yield server, created["run_id"], go
    finally:
        server.terminate()


def open_stream(port: int, run_id: str, receive_buffer: int = 0) -> http.client.HTTPResponse:
    """`GET /api/v1/runs/<r>/stream` on a socket of its own, past `: connected`."""
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.sock = sock
    connection.request("GET", f"/api/v1/runs/{run_id}/stream")
    response = connection.getresponse()
    assert response.status == 200
    assert response.read1(64) == b": connected\n\n"
    return response


def read_to_end(response: http.client.HTTPResponse) -> bytes:
    data = bytearray()
    try:
        while piece := response.read1(1 << 16):
            data += piece
            if data.endswith(b'data: {"type":"done"}\n\n'):
                break
    except (ConnectionError, http.client.IncompleteRead):
        pass
    return bytes(data)


def log_lines(text: bytes) -> list[str]:
    frames = [json.loads(line[6:]) for line in text.split(b"\n") if line.startswith(b"data: ")]
    return [frame["line"] for frame in frames if frame.get("type") == "log"]


def tcp_state(sock: socket.socket) -> int:
    return struct.unpack("B", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1))[0]


def run_status(server: Server, run_id: str) -> str:
    return str(server.request("GET", f"/api/v1/runs/{run_id}/info")[1]["status"])


EVERY_LINE = [str(n) for n in range(1, LINES + 1)]


@pytest.mark.parametrize("flood", [120], indirect=True)
def test_a_stalled_sse_client_gets_lagged_then_the_rest_without_slowing_the_reader(
    flood: Any,
) -> None:
    server, run_id, go = flood
    stalled = open_stream(server.port, run_id, receive_buffer=4096)
    reader = open_stream(server.port, run_id)

    go.touch()
    read = read_to_end(reader)

    assert log_lines(read) == EVERY_LINE
    assert run_status(server, run_id) != "running", "the run ended while a client was stalled"
    rest = read_to_end(stalled)
    assert b'event: lagged\ndata: {"type":"lagged"}\n\n' in rest
    assert log_lines(rest) == EVERY_LINE, "after lagged it went on from the database"
    assert rest.endswith(b'data: {"type":"done"}\n\n')


@pytest.mark.parametrize("flood", [0.5], indirect=True)
def test_a_client_that_stays_stalled_is_dropped(flood: Any) -> None:
    server, run_id, go = flood
    stalled = open_stream(server.port, run_id, receive_buffer=4096)
    reader = open_stream(server.port, run_id)

    go.touch()

    assert log_lines(read_to_end(reader)) == EVERY_LINE
    assert stalled.fp is not None
    sock = socket.socket(fileno=stalled.fp.raw._sock.fileno())  # type: ignore[attr-defined]
    try:
        wait_for(lambda: tcp_state(sock) == TCP_CLOSE, 60, "the server to drop the stalled client")
    finally:
        sock.detach()
    assert b'data: {"type":"done"}' not in read_to_end(stalled)


# How long the stalled WebSocket still reads nothing once the reader has it all: its stream
# has ended by then, its tail in the socket's buffers. The server waited 1 s (Autobahn's)
# for its close frame, then dropped the connection and that tail with it.
STALLED_AFTER_THE_END = 3.0


@pytest.mark.parametrize("flood", [120], indirect=True)
def test_a_stalled_websocket_gets_lagged_then_the_rest(flood: Any) -> None:
    server, run_id, go = flood

    async def session() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        url = f"ws://127.0.0.1:{server.port}/ws/runs/{run_id}/logs/"
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        # No pings of its own, as a browser: it would drop itself, its pongs unread.
        async with (
            websockets.connect(
                url, sock=sock, max_queue=1, max_size=None, ping_interval=None
            ) as stalled,
            websockets.connect(url, max_size=None) as reader,
        ):
            go.touch()
            fast = [json.loads(frame) async for frame in reader]
            await asyncio.sleep(STALLED_AFTER_THE_END)  # the stall itself, not a wait
            slow = [json.loads(frame) async for frame in stalled]
        return fast, slow

    fast, slow = asyncio.run(asyncio.wait_for(session(), 300))

    assert ws_log_lines(fast) == EVERY_LINE
    assert {"type": "lagged"} in slow
    assert ws_log_lines(slow) == EVERY_LINE
    assert slow[-1] == {"type": "done"}


def test_outside_daphne_a_connection_has_nothing_unsent() -> None:
    assert Wire().unsent() == 0


def test_a_stream_that_keeps_up_lets_the_loop_run_others_after_each_write() -> None:
    async def others_ran() -> list[str]:
        ran: list[str] = []
        asyncio.get_running_loop().call_soon(ran.append, "other")
        assert await keep_up(None) is Pace.ON
        return ran

    assert asyncio.run(others_ran()) == ["other"]
