"""`/ws/runs/<r>/entries/`: a run's conversation over a WebSocket. A recorded Claude Code
stream-json session, printed by a real `custom` agent process, arrives as entries; a running
run's new log batches arrive as entries live, a finished tool call again under its index; a
reconnect with the cursor repeats nothing new and misses nothing."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.utils import timezone
from rest_framework.test import APIClient

from conductor_site.live.engine import db
from conductor_site.live.events import run_group
from projects.models import AgentProfile, Project
from runs.entries.formats import normalizer
from runs.logsink import chunk_event
from runs.models import LogChunk, Run, RunStatus
from tests.conftest import create_task, run_finished
from tests.helpers import Ws, publish_here, ws_refused, ws_session
from tests.projects.builders import make_run, make_task

CLAUDE = Path(__file__).parent.parent / "fixtures" / "entries" / "claude.jsonl"
LINES = CLAUDE.read_text().splitlines(keepends=True)
BASH_STARTED = 5  # lines[:5] end with the first Bash call asked for, still pending


def expected() -> dict[int, Any]:
    return dict(normalizer("claude").feed("stdout", CLAUDE.read_text()))


def applied(frames: list[dict[str, Any]], into: dict[int, Any] | None = None) -> dict[int, Any]:
    """The conversation a client holds once it applied every `entry` upsert in order."""
    held = dict(into or {})
    held.update({f["index"]: f["entry"] for f in frames if f["type"] == "entry"})
    return held


def test_a_claude_session_replayed_through_custom_is_a_conversation(
    work: str, api: APIClient, project: Project, ws_layer: None
) -> None:
    AgentProfile.objects.create(
        name="replay", agent_type="custom", command=f"cat {shlex.quote(str(CLAUDE))}"
    )
    run = run_finished(create_task(api, agent_type="replay", prompt="fix the test")["run_id"])
    assert run.status == "success", run.error_summary

    frames, code = ws_session(f"/ws/runs/{run.id}/entries/")

    assert applied(frames) == expected()
    assert [f["type"] for f in frames[-2:]] == ["status", "done"]
    assert frames[-2] == {"type": "status", "status": "success", "exit_code": 0}
    assert code == 1000
    entries = [f for f in frames if f["type"] == "entry"]
    assert [int(f["cursor"]) for f in entries] == sorted(int(f["cursor"]) for f in entries)
    assert entries[-1]["cursor"] == str(max(expected()))


def store(run: Run, seq: int, lines: list[str]) -> LogChunk:
    text = "".join(lines)
    return LogChunk.objects.create(
        run=run,
        seq=seq,
        stream="stdout",
        text=text,
        line_count=len(lines),
        created_at=timezone.now(),
    )


@pytest.fixture
def running(project: Project) -> Run:
    """A running `custom` agent run that has printed the session up to a pending Bash call."""
    AgentProfile.objects.create(name="replay", agent_type="custom", command="true")
    task = make_task(project, "t1", agent_type="replay")
    run = make_run(task, RunStatus.RUNNING)
    store(run, 1, LINES[:BASH_STARTED])
    return run


def test_new_batches_arrive_live_and_a_finished_tool_again_under_its_index(
    running: Run, ws_layer: None
) -> None:
    async def session() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        publish_here()
        async with Ws(f"/ws/runs/{running.id}/entries/") as ws:
            replayed = await ws.until(lambda f: f["type"] == "status")
            chunk = await db(store, running, 2, LINES[BASH_STARTED : BASH_STARTED + 1])
            await get_channel_layer().group_send(run_group(running.id), chunk_event(chunk))
            live = await ws.until(lambda f: f["type"] == "entry")
        return replayed, live

    replayed, live = asyncio.run(session())

    pending = [f for f in replayed if f.get("entry", {}).get("status") == "pending"]
    assert pending and replayed[-1] == {"type": "status", "status": "running"}
    (bash,) = live
    assert bash["index"] == pending[-1]["index"]
    assert bash["entry"]["status"] == "failed" and bash["entry"]["action"]["exit_code"] == 1
    assert bash["cursor"] == replayed[-2]["cursor"]  # nothing new: the cursor stays


def test_a_reconnect_with_the_cursor_has_no_gap_and_no_duplicate(
    running: Run, ws_layer: None
) -> None:
    async def first() -> list[dict[str, Any]]:
        publish_here()
        async with Ws(f"/ws/runs/{running.id}/entries/") as ws:
            return await ws.until(lambda f: f["type"] == "status")

    seen = asyncio.run(first())
    cursor = seen[-2]["cursor"]
    store(running, 2, LINES[BASH_STARTED:])  # printed while the client was away
    Run.objects.filter(id=running.id).update(
        status=RunStatus.SUCCESS, exit_code=0, ended_at=timezone.now()
    )

    resumed, code = ws_session(f"/ws/runs/{running.id}/entries/?after={cursor}")

    assert applied(resumed, applied(seen)) == expected()
    before = applied(seen)
    for frame in resumed:
        if frame["type"] == "entry" and frame["index"] <= int(cursor):
            assert frame["entry"] != before[frame["index"]]  # only an update comes again
    new = [f["index"] for f in resumed if f["type"] == "entry" and f["index"] > int(cursor)]
    assert new == list(range(int(cursor) + 1, max(expected()) + 1))
    assert resumed[-1] == {"type": "done"} and code == 1000


def test_a_subscriber_joining_after_the_end_gets_everything_and_done(
    running: Run, ws_layer: None
) -> None:
    store(running, 2, LINES[BASH_STARTED:])
    Run.objects.filter(id=running.id).update(
        status=RunStatus.FAILED, exit_code=3, ended_at=timezone.now()
    )

    frames, code = ws_session(f"/ws/runs/{running.id}/entries/")

    assert applied(frames) == expected()
    assert frames[-2:] == [{"type": "status", "status": "failed", "exit_code": 3}, {"type": "done"}]
    assert code == 1000


def test_an_unknown_run_is_named_in_a_reason_a_close_frame_can_carry(ws_layer: None) -> None:
    async def session() -> tuple[int | None, str]:
        async with Ws(f"/ws/runs/{'r' * 128}/entries/") as ws:
            await ws.rest()
        return ws.code, ws.reason

    code, reason = asyncio.run(session())
    assert code == 4404 and reason.startswith("run 'rrrr") and len(reason.encode()) <= 123


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/ws/runs/ghost/entries/", 4404),
        ("/ws/runs/a%20b/entries/", 4400),
        ("/ws/runs/ghost/entries/?after=x", 4400),
        ("/ws/runs/ghost/entries/?after=-1", 4400),
        (f"/ws/runs/{'r' * 128}/entries/", 4404),
    ],
)
def test_bad_ids_and_cursors_close_with_their_codes(ws_layer: None, path: str, code: int) -> None:
    assert ws_refused(path) == code
