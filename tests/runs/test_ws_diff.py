"""`/ws/attempts/<a>/diff/`: an attempt's diff, live, from a real `conductor serve` (embedded:
its worker thread watches the worktree and publishes onto the server's loop) to real
WebSocket clients. The agent is a shell script that writes a file, renames one and deletes
one, each after a gate the test opens, so the test awaits each change, never a fixed time."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_django.fixtures import Settings
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from projects.models import Project
from tests.conftest import wait_for
from tests.helpers import git_cli, refusal_code
from tests.processes import Server
from tests.projects.builders import make_run, make_task
from tests.runs.test_ws_run_log import connect_and_read

TIMEOUT = 60.0
PROJECT = "diffs"

AGENT = """gate() { while [ ! -f "$CONDUCTOR_TASK_DIR/$1" ]; do sleep 0.01; done; }
gate write; printf 'fresh\\n' > new.txt
gate rename; mv old.txt renamed.txt
gate delete; rm gone.txt
gate end
"""


@dataclass
class Conductor:
    server: Server
    data: Path

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.server.port}{path}"

    def start(self) -> tuple[str, str]:
        """The agent above in a new attempt, once it runs: (task_id, attempt_id)."""
        task_id = f"t-{uuid.uuid4().hex[:8]}"
        body = {"project_id": PROJECT, "task_id": task_id, "agent_type": "shell", "prompt": AGENT}
        status, created = self.server.request("POST", "/api/v1/tasks", body)
        assert status == 201, created
        run = f"/api/v1/runs/{created['run_id']}"
        wait_for(lambda: self.server.request("GET", run)[1]["status"] == "running", TIMEOUT)
        listed = self.server.request("GET", f"/api/v1/attempts?task_id={task_id}")[1]
        return task_id, listed["items"][0]["attempt_id"]

    def open_gate(self, task_id: str, gate: str) -> None:
        (self.data / "projects" / PROJECT / task_id / gate).touch()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Conductor]:
    tmp = tmp_path_factory.mktemp("ws-diff")
    repo = tmp / "repo"
    repo.mkdir()
    git_cli(repo, "init", "-q", "-b", "main")
    (repo / "old.txt").write_text("".join(f"line {n}\n" for n in range(20)))
    (repo / "gone.txt").write_text("bye\n")
    git_cli(repo, "add", ".")
    git_cli(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init")
    server = Server(tmp / "data", tmp / "server.log", CONDUCTOR_SSE_KEEPALIVE_SECONDS="1")
    try:
        project = {"project_id": PROJECT, "project_root": str(repo)}
        assert server.request("POST", "/api/projects", project)[0] == 201
        yield Conductor(server, tmp / "data")
    finally:
        server.terminate()
    assert "Traceback" not in server.output(), server.output()


def key(entry: dict[str, Any]) -> str:
    return f"{entry['old_path']}->{entry['new_path']}"


def touches(entry: dict[str, Any], paths: list[str]) -> bool:
    return any(
        p is not None and any(p == q or p.startswith(q + "/") for q in paths)
        for p in (entry["old_path"], entry["new_path"])
    )


@dataclass
class DiffClient:
    """One WebSocket client holding the diff as a client would: each `snapshot` replaces it,
    each `files` frame replaces the entries at or under its `paths`."""

    ws: ClientConnection
    frames: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def until(self, done: Callable[[DiffClient], bool]) -> list[dict[str, Any]]:
        """Frames up to the one after which `done(self)` holds."""
        start = len(self.frames)
        while not done(self):
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))
            self.frames.append(frame)
            if frame["type"] == "snapshot":
                self.files = {key(f): f for f in (frame["diff"] or {"files": []})["files"]}
            elif frame["type"] == "files":
                kept = {k: f for k, f in self.files.items() if not touches(f, frame["paths"])}
                self.files = kept | {key(f): f for f in frame["files"]}
        return self.frames[start:]

    async def close_code(self) -> int:
        try:
            frame = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code
        raise AssertionError(f"a frame after the end: {frame!r}")


def has(*keys: str) -> Callable[[DiffClient], bool]:
    return lambda client: set(keys) <= set(client.files)


def changes(client: DiffClient) -> dict[str, str]:
    return {k: f["change"] for k, f in client.files.items()}


def last_type(kind: str) -> Callable[[DiffClient], bool]:
    return lambda client: bool(client.frames) and client.frames[-1]["type"] == kind


def test_each_change_is_seen_live_then_the_final_snapshot_and_done(app: Conductor) -> None:
    task_id, attempt_id = app.start()
    path = f"/ws/attempts/{attempt_id}/diff/"

    async def session() -> None:
        async with connect(app.url(path)) as a, connect(app.url(path + "?stats_only=1")) as b:
            full, stats = DiffClient(a), DiffClient(b)
            for client in (full, stats):
                first = await client.until(lambda c: len(c.frames) == 2)
                assert [f["type"] for f in first] == ["snapshot", "snapshot"]
                assert (first[0]["diff"], first[0]["cursor"]) == (None, "s0")  # none stored yet
                assert first[1]["diff"]["source"] == "worktree"
                assert client.files == {}

            app.open_gate(task_id, "write")
            for client in (full, stats):
                await client.until(has("None->new.txt"))
            added = full.files["None->new.txt"]
            assert (added["change"], added["new_content"]) == ("added", "fresh\n")
            assert stats.files["None->new.txt"]["change"] == "added"
            assert "new_content" not in stats.files["None->new.txt"]

            app.open_gate(task_id, "rename")
            for client in (full, stats):
                frames = await client.until(has("old.txt->renamed.txt"))
                changed = [f for frame in frames for f in frame.get("files", [])]
                assert all(touches(f, ["old.txt", "renamed.txt"]) for f in changed), frames
                assert all(frame["type"] == "files" for frame in frames)
                assert frames[-1]["cursor"] == f"{frames[-1]['run_id']}:{len(client.frames) - 2}"
            assert changes(full) == {"None->new.txt": "added", "old.txt->renamed.txt": "renamed"}

            app.open_gate(task_id, "delete")
            for client in (full, stats):
                await client.until(has("gone.txt->None"))
            assert full.files["gone.txt->None"]["change"] == "deleted"
            assert full.files["gone.txt->None"]["old_content"] == "bye\n"

            live = changes(full)
            app.open_gate(task_id, "end")
            for client in (full, stats):
                frames = await client.until(last_type("done"))
                assert frames[-2]["type"] == "snapshot"
                assert frames[-2]["diff"]["source"] == "snapshot"
                assert frames[-2]["cursor"].startswith("s")
                assert changes(client) == live
                assert await client.close_code() == 1000
            assert full.files["None->new.txt"]["new_content"] == "fresh\n"
            assert "new_content" not in stats.files["None->new.txt"]

    asyncio.run(session())


def test_joining_after_the_run_gets_the_final_snapshot_and_done(app: Conductor) -> None:
    task_id, attempt_id = app.start()
    for gate in ("write", "rename", "delete", "end"):
        app.open_gate(task_id, gate)
    attempt = f"/api/v1/attempts/{attempt_id}"
    wait_for(lambda: app.server.request("GET", attempt)[1]["status"] == "success", TIMEOUT)

    async def session() -> tuple[list[dict[str, Any]], dict[str, str], int]:
        async with connect(app.url(f"/ws/attempts/{attempt_id}/diff/?stats_only=1")) as ws:
            client = DiffClient(ws)
            frames = await client.until(last_type("done"))
            return frames, changes(client), await client.close_code()

    frames, files, code = asyncio.run(session())
    assert [f["type"] for f in frames] == ["snapshot", "done"]
    assert frames[0]["diff"]["source"] == "snapshot" and frames[0]["diff"]["stats_only"]
    assert files == {
        "None->new.txt": "added",
        "old.txt->renamed.txt": "renamed",
        "gone.txt->None": "deleted",
    }
    assert code == 1000


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/ws/attempts/ghost/diff/", 4404),
        ("/ws/attempts/a.b/diff/", 4400),
        ("/ws/attempts/a%20b/diff/", 4400),
        ("/ws/attempts/ghost/diff/?stats_only=maybe", 4400),
    ],
)
def test_unknown_and_bad_ids_close_with_their_codes(app: Conductor, path: str, code: int) -> None:
    async def session() -> tuple[list[dict[str, Any]], int]:
        async with connect(app.url(path)) as ws:
            refusal = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            return [refusal], await DiffClient(ws).close_code()

    assert refusal_code(*asyncio.run(session())) == code


def test_without_the_api_key_or_from_a_foreign_origin_it_is_refused(
    transactional_db: None, project: Project, settings: Settings
) -> None:
    """In process (a `WebsocketCommunicator` on the ASGI application), like the log stream."""
    attempt_id = make_run(make_task(project, "t1")).attempt_id
    path = f"/ws/attempts/{attempt_id}/diff/"
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "sekret"}
    key = (b"authorization", b"Bearer sekret")
    host = (b"host", b"127.0.0.1:14355")

    assert refusal_code(*connect_and_read(path)) == 4401
    assert (
        refusal_code(*connect_and_read(path, [key, host, (b"origin", b"https://evil.example")]))
        == 4403
    )
    frames, code = connect_and_read(path, [key])
    assert [f["type"] for f in frames] == ["snapshot", "done"] and code == 1000
