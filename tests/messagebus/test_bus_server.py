"""The bus on a real `conductor serve`: concurrent writers over HTTP, followers over SSE.

What the group-committing writer (messagebus.writer) must keep while it batches: every post
answered 201 is stored and streamed live exactly once, in msg_id order (which is pk order),
each writer's posts in the order it sent them; a bus deleted while posts flow answers every
post and leaves the bus working; a write the disk refuses answers the error shape at once
(no hang), and the bus appends again once there is room.
"""

from __future__ import annotations

import http.client
import json
import resource
import threading
from collections.abc import Iterator
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.processes import Server

WRITERS = 4
POSTS = 100  # each
TASK_BUS = "/api/projects/swarm/tasks/t1/messages"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path / "data", tmp_path / "server.log")
    yield server
    server.terminate()


def post(conn: http.client.HTTPConnection, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


class Follower:
    """An SSE client of one bus stream, reading every `data:` line on a thread of its own."""

    def __init__(self, server: Server, path: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        self.conn.request("GET", path)
        self.response = self.conn.getresponse()
        assert self.response.status == 200
        self.items: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while line := self.response.fp.readline():
            if line.startswith(b"data:"):
                self.items.append(json.loads(line[5:]))

    def bodies(self) -> list[str]:
        return [item["body"] for item in self.items]

    def streamed(self, body: str) -> bool:
        return body in self.bodies()

    def streamed_all(self, count: int) -> bool:
        return len(self.items) >= count

    def close(self) -> None:
        self.conn.close()


def followers_live(server: Server, paths: list[str]) -> list[Follower]:
    """Followers of `paths` (on the bus the first post makes), once each has streamed a
    post sent after it subscribed: from then on they follow live."""
    with closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)) as conn:
        assert post(conn, TASK_BUS, {"type": "FACT", "body": "made"})[0] == 201
        followers = [Follower(server, path) for path in paths]
        assert post(conn, TASK_BUS, {"type": "FACT", "body": "ready"})[0] == 201
    for follower in followers:
        wait_for(partial(follower.streamed, "ready"), 30, "the follower to be live")
    return followers


def write_all(server: Server, path: str) -> dict[str, tuple[int, Any]]:
    """WRITERS threads, each posting POSTS bodies `w<writer>-<n>` in turn; answer by body."""
    answers: dict[str, tuple[int, Any]] = {}

    def write(writer: int) -> None:
        with closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)) as conn:
            for n in range(POSTS):
                body = f"w{writer}-{n}"
                answers[body] = post(conn, path, {"type": "FACT", "body": body})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return answers


def pk_of(msg_id: str) -> int:
    return int(msg_id.rsplit("-", 1)[1])


def test_concurrent_posts_are_stored_and_streamed_live_once_each_in_order(
    server: Server,
) -> None:
    task, project = followers_live(
        server,
        [
            "/api/projects/swarm/tasks/t1/messages/stream",
            "/api/v1/messages/stream?project_id=swarm",
        ],
    )

    answers = write_all(server, TASK_BUS)

    assert {status for status, _ in answers.values()} == {201}
    total = 2 + WRITERS * POSTS  # and "made", "ready"
    for follower in (task, project):
        wait_for(partial(follower.streamed_all, total), 60, "every post to be streamed")
        ids = [item["msg_id"] for item in follower.items]
        assert len(ids) == total and len(set(ids)) == total  # each once
        assert ids == sorted(ids) and [pk_of(i) for i in ids] == sorted(map(pk_of, ids))
        for writer in range(WRITERS):  # each writer's posts in the order it sent them
            mine = [b for b in follower.bodies() if b.startswith(f"w{writer}-")]
            assert mine == [f"w{writer}-{n}" for n in range(POSTS)]
        answered = {body: answer["msg_id"] for body, (_, answer) in answers.items()}
        streamed = {i["body"]: i["msg_id"] for i in follower.items[2:]}
        assert streamed == answered
    status, stored = server.request("GET", "/api/projects/swarm/tasks/t1/messages")
    assert status == 200
    assert [m["msg_id"] for m in stored["messages"]] == [i["msg_id"] for i in task.items]


def test_a_bus_deleted_while_posts_flow_answers_every_post_and_works_after(
    server: Server,
) -> None:
    deletes: list[int] = []
    done = threading.Event()

    def delete_while_posting() -> None:
        while not done.is_set():
            status, _ = server.request("DELETE", "/api/projects/swarm/tasks/t1")
            deletes.append(status)

    deleter = threading.Thread(target=delete_while_posting)
    deleter.start()
    try:
        answers = write_all(server, TASK_BUS)
    finally:
        done.set()
        deleter.join(60)

    # A post makes the bus it names, so each is stored: on the bus of its time.
    assert {status for status, _ in answers.values()} == {201}
    assert 204 in deletes and set(deletes) <= {204, 404}
    with closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)) as conn:
        status, answer = post(conn, TASK_BUS, {"type": "FACT", "body": "after"})
    assert status == 201
    status, stored = server.request("GET", "/api/projects/swarm/tasks/t1/messages")
    ids = [m["msg_id"] for m in stored["messages"]]
    assert ids == sorted(ids) and ids[-1] == answer["msg_id"]


def test_a_write_the_disk_refuses_answers_the_error_shape_and_the_bus_recovers(
    server: Server,
) -> None:
    with closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)) as conn:
        assert post(conn, TASK_BUS, {"type": "FACT", "body": "before"})[0] == 201
        # The disk is full: the server's files grow no further (EFBIG: SQLite's "disk I/O
        # error"). The body stays below the 100 kB that Twisted would spool to a file.
        soft, hard = resource.prlimit(server.popen.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(server.popen.pid, resource.RLIMIT_FSIZE, (8192, hard))
        try:
            status, answer = post(conn, TASK_BUS, {"type": "FACT", "body": "x" * 60_000})
        finally:
            resource.prlimit(server.popen.pid, resource.RLIMIT_FSIZE, (soft, hard))

        assert status == 500
        assert answer["code"] == "INTERNAL_ERROR" and answer["details"]["request_id"]
        status, after = post(conn, TASK_BUS, {"type": "FACT", "body": "after"})
    assert status == 201
    status, stored = server.request("GET", "/api/projects/swarm/tasks/t1/messages")
    assert [m["body"] for m in stored["messages"]] == ["before", "after"]
    assert stored["messages"][-1]["msg_id"] == after["msg_id"]
