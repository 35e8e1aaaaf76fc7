"""`/ws/runs/<r>/logs/`: the run-log feed of the SSE stream, over a WebSocket (a real
`WebsocketCommunicator` on the ASGI application): the stored log after the cursor, then live,
then `done`; refused ids, cursors, keys and origins close with their documented codes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from pytest_django.fixtures import Settings

from conductor_site.asgi import application
from conductor_site.live.engine import db
from conductor_site.live.events import run_group
from projects.models import Project
from runs.logsink import chunk_event
from runs.models import LogChunk, Run, RunStatus
from tests.helpers import refusal_code
from tests.projects.builders import make_run, make_task

TIMEOUT = 10


@pytest.fixture(autouse=True)
def fresh_layer(transactional_db: None) -> Iterator[None]:
    channel_layers.backends.pop("default", None)
    yield
    channel_layers.backends.pop("default", None)


def connect_and_read(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    """Every frame until the server closes: (frames, close code)."""

    async def session() -> tuple[list[dict[str, Any]], int]:
        client = WebsocketCommunicator(application, path, headers=headers or [])
        connected, _ = await client.connect(TIMEOUT)
        assert connected
        frames: list[dict[str, Any]] = []
        while True:
            message = await client.receive_output(TIMEOUT)
            if message["type"] == "websocket.close":
                return frames, message.get("code", 1000)
            frames.append(json.loads(message["text"]))

    return asyncio.run(session())


@pytest.fixture
def finished(project: Project) -> Run:
    return make_run(make_task(project, "t1"), stdout="one\ntwo\n")


def test_a_finished_run_sends_its_log_status_and_done_then_closes(finished: Run) -> None:
    frames, code = connect_and_read(f"/ws/runs/{finished.id}/logs/")

    assert [(f["type"], f.get("text"), f.get("cursor")) for f in frames] == [
        ("log", "one\ntwo\n", "1:1"),  # a stored chunk a frame, its cursor its last line
        ("status", None, None),
        ("done", None, None),
    ]
    assert set(frames[0]) == {"type", "seq", "stream", "timestamp", "text", "cursor"}
    assert (frames[0]["seq"], frames[0]["stream"]) == (1, "stdout")
    assert frames[1] == {"type": "status", "status": "success", "exit_code": 0}
    assert code == 1000


def test_a_cursor_resumes_after_the_line_it_names(finished: Run) -> None:
    frames, _ = connect_and_read(f"/ws/runs/{finished.id}/logs/?after=1:0")

    assert [(f["text"], f["cursor"]) for f in frames if f["type"] == "log"] == [("two\n", "1:1")]


def test_a_cursor_on_a_chunks_last_line_sends_nothing_of_it(finished: Run) -> None:
    frames, _ = connect_and_read(f"/ws/runs/{finished.id}/logs/?after=1:1")

    assert [f["type"] for f in frames] == ["status", "done"]


def test_chunks_of_one_stream_that_come_together_are_one_frame(project: Project) -> None:
    run = make_run(make_task(project, "t1"), stdout="a\n")  # chunk 1
    for seq, stream, text in [
        (2, "stdout", "b\nc\n"),
        (3, "stderr", "oops\n"),
        (4, "stderr", "d\n"),
    ]:
        LogChunk.objects.create(
            run=run,
            seq=seq,
            stream=stream,
            text=text,
            line_count=text.count("\n"),
            created_at=run.created_at,
        )

    frames, _ = connect_and_read(f"/ws/runs/{run.id}/logs/")
    resumed, _ = connect_and_read(f"/ws/runs/{run.id}/logs/?after=2:0")

    logs = [(f["seq"], f["stream"], f["text"], f["cursor"]) for f in frames if f["type"] == "log"]
    assert logs == [(2, "stdout", "a\nb\nc\n", "2:1"), (4, "stderr", "oops\nd\n", "4:0")]
    rest = [(f["text"], f["cursor"]) for f in resumed if f["type"] == "log"]
    assert rest == [("c\n", "2:1"), ("oops\nd\n", "4:0")]


def store_late_line(run: Run) -> LogChunk:
    return LogChunk.objects.create(
        run=run, seq=1, stream="stderr", text="late\n", line_count=1, created_at=run.created_at
    )


def test_a_running_run_is_followed_live(project: Project) -> None:
    run = make_run(make_task(project, "t1"), RunStatus.RUNNING)

    async def session() -> list[Any]:
        client = WebsocketCommunicator(application, f"/ws/runs/{run.id}/logs/")
        assert (await client.connect(TIMEOUT))[0]
        first = await client.receive_json_from(TIMEOUT)
        chunk = await db(
            lambda: LogChunk.objects.create(
                run=run,
                seq=1,
                stream="stderr",
                text="late\n",
                line_count=1,
                created_at=run.created_at,
            )
        )
        await get_channel_layer().group_send(run_group(run.id), chunk_event(chunk))
        second = await client.receive_json_from(TIMEOUT)
        await client.disconnect()
        return [first, second]

    status, line = asyncio.run(session())
    assert status == {"type": "status", "status": "running"}
    assert (line["text"], line["stream"], line["cursor"]) == ("late\n", "stderr", "1:0")


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/ws/runs/ghost/logs/", 4404),
        ("/ws/runs/a%20b/logs/", 4400),
        ("/ws/runs/ghost/logs/?after=x", 4400),
    ],
)
def test_bad_ids_and_cursors_close_with_their_codes(db: None, path: str, code: int) -> None:
    assert refusal_code(*connect_and_read(path)) == code


def test_without_the_api_key_it_closes_4401(finished: Run, settings: Settings) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "sekret"}
    path = f"/ws/runs/{finished.id}/logs/"

    assert refusal_code(*connect_and_read(path)) == 4401
    assert refusal_code(*connect_and_read(path, [(b"authorization", b"Bearer wrong")])) == 4401
    frames, code = connect_and_read(path, [(b"authorization", b"Bearer sekret")])
    assert frames[-1] == {"type": "done"} and code == 1000
    assert connect_and_read(path, [(b"x-api-key", b"sekret")])[1] == 1000


def test_a_foreign_origin_closes_4403(finished: Run) -> None:
    path = f"/ws/runs/{finished.id}/logs/"

    host = (b"host", b"127.0.0.1:14355")
    assert (
        refusal_code(*connect_and_read(path, [host, (b"origin", b"https://evil.example")])) == 4403
    )
    assert refusal_code(*connect_and_read(path, [host, (b"origin", b"http://127.0.0.1:9")])) == 4403
    assert connect_and_read(path, [host, (b"origin", b"http://127.0.0.1:14355")])[1] == 1000


def test_with_a_key_a_signed_in_session_stands_in_for_it_on_this_origin_only(
    finished: Run, settings: Settings
) -> None:
    """The dashboard's pages cannot set a header on a WebSocket: their session proves them,
    from this server's own page; another site's page with the same cookie is refused."""
    from django.contrib.auth.models import User
    from django.test import Client

    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "sekret"}
    browser = Client()
    browser.force_login(User.objects.create_user("ada", password="a long pass phrase"))
    cookie = (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())
    host = (b"host", b"127.0.0.1:14355")
    path = f"/ws/runs/{finished.id}/logs/"

    frames, code = connect_and_read(path, [host, cookie, (b"origin", b"http://127.0.0.1:14355")])
    assert frames[-1] == {"type": "done"} and code == 1000
    assert refusal_code(*connect_and_read(path, [host, cookie])) == 4401  # no Origin: no page
    own = (b"origin", b"http://127.0.0.1:14355")
    assert refusal_code(*connect_and_read(path, [host, own])) == 4401
    stale = (b"cookie", b"sessionid=not-a-session")
    assert connect_and_read(path, [host, stale, (b"origin", b"http://127.0.0.1:14355")])[1] == 4401
