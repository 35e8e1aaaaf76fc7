"""`conductor serve --processes 2`: two processes answer on one port, an SSE stream in one
follows appends served by the other, and both stop with the server."""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.messagebus.test_stream_support import Conductor, EventStream
from tests.processes import Server, alive

pytestmark = pytest.mark.production

CONNECTIONS_MAX = 200  # the kernel picks the process: enough connections see both


class TwoProcesses(Server):
    ARGS = ("--processes", "2")


def serving_processes(server: Server) -> list[int]:
    """The server and the serving processes it started."""
    pid = server.popen.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed since the listing (or not a link)
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def server_side_inode(server_port: int, client_port: int) -> str:
    """The inode of the accepted socket whose peer is `client_port` (/proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
        if int(local, 16) == server_port and int(remote, 16) == client_port:
            return fields[9]
    raise AssertionError(f"no accepted socket for client port {client_port}")


def post(server: Server, body: str) -> tuple[http.client.HTTPConnection, str]:
    """A bus post on a new connection, kept open; (the connection, the msg_id)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    payload = json.dumps({"type": "FACT", "body": body})
    headers = {"Content-Type": "application/json"}
    conn.request("POST", "/api/projects/multi/messages", payload, headers)
    response = conn.getresponse()
    assert response.status == 201
    return conn, json.loads(response.read())["msg_id"]


def test_two_processes_serve_one_port_and_streams_follow_both(
    start_server: Callable[..., Server],
) -> None:
    server = start_server(TwoProcesses)
    pids = serving_processes(server)
    assert len(pids) == 2
    post(server, "first")[0].close()
    with EventStream(Conductor(server, Path()), "/api/projects/multi/messages/stream") as stream:
        assert stream.status == 200
        served_by: set[int] = set()
        sent: list[str] = []
        kept: list[http.client.HTTPConnection] = []
        while served_by != set(pids) and len(kept) < CONNECTIONS_MAX:
            conn, msg_id = post(server, f"m{len(kept)}")
            kept.append(conn)
            sent.append(msg_id)
            inode = server_side_inode(server.port, conn.sock.getsockname()[1])
            served_by |= {pid for pid in pids if inode in socket_inodes(pid)}
        assert served_by == set(pids), "one process answered every connection"
        deadline = time.monotonic() + 30
        seen: list[str] = []
        while len(seen) < len(sent) + 1:
            event = stream.next(deadline)
            assert event is not None
            seen.append(json.loads(event.data)["msg_id"])
        assert seen[1:] == sent
        for conn in kept:
            conn.close()
    server.terminate()
    wait_for(lambda: not any(alive(pid) for pid in pids), 30, "every serving process gone")
