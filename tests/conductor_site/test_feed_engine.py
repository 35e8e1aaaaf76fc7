"""The transport-free feed engine (`conductor_site.live.engine.follow`) driving a real feed
(a run's log) on the real in-memory channel layer and the test database: replay after the
cursor, then live, a gap re-read from the database, duplicates dropped, a lost doorbell found
by the idle resync, and the end. No transport: what it yields are `FeedEvent`s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from channels.layers import channel_layers, get_channel_layer
from django.utils import timezone

from conductor_site.live.engine import Batch, db, follow
from conductor_site.live.events import run_group
from projects.models import Project
from runs.events import run_event
from runs.logsink import chunk_event
from runs.models import LogChunk, Run, RunStatus
from runs.streams.run_log import RunLogFeed
from runs.streams.run_reads import run_ref
from tests.projects.builders import make_run, make_task


@pytest.fixture
def fresh_layer() -> Iterator[None]:
    """A new in-memory layer for this test's own event loop."""
    channel_layers.backends.pop("default", None)
    yield
    channel_layers.backends.pop("default", None)


@pytest.fixture
def running(transactional_db: None, project: Project, fresh_layer: None) -> Run:
    return make_run(make_task(project, "t1"), RunStatus.RUNNING)


def store(run_id: str, seq: int, text: str) -> LogChunk:
    return LogChunk.objects.create(
        run_id=run_id,
        seq=seq,
        stream="stdout",
        text=text,
        line_count=text.count("\n"),
        created_at=timezone.now(),
    )


def finish(run_id: str) -> Run:
    Run.objects.filter(id=run_id).update(status=RunStatus.SUCCESS, exit_code=0)
    return Run.objects.select_related("attempt__task").get(id=run_id)


async def ring(run_id: str, event: Any) -> None:
    await get_channel_layer().group_send(run_group(run_id), event)


async def next_batch(stream: AsyncIterator[Batch]) -> list[Any]:
    """The next batch, as `(id, data)` pairs: the log lines' text, else the payload."""
    batch = await asyncio.wait_for(anext(stream), 10)
    return [(e.id, line_or_payload(e.data)) for e in batch]


def line_or_payload(data: Any) -> Any:
    return data["line"] if "line" in data else dict(data)


def test_replay_then_live_then_a_gap_read_from_the_database(running: Run) -> None:
    store(running.id, 1, "one\ntwo\n")
    ref = run_ref(running.id)
    assert ref is not None

    async def scenario() -> None:
        feed = RunLogFeed(ref, (1, 0))  # seen line 0 of chunk 1
        stream = follow(feed, idle_seconds=60)

        assert await next_batch(stream) == [("1:1", "two")]  # the replay after the cursor
        assert await next_batch(stream) == [(None, {"type": "status", "status": "running"})]

        # A following chunk is taken from the doorbell itself: its text says so.
        two = chunk_event(await db(store, running.id, 2, "db\n"))
        await ring(running.id, {**two, "text": "live\n"})
        assert await next_batch(stream) == [("2:0", "live")]

        # Chunk 4 arrives before 3: the feed re-reads both from the database, in order.
        await db(store, running.id, 3, "three\n")
        four = await db(store, running.id, 4, "four\n")
        await ring(running.id, chunk_event(four))
        assert await next_batch(stream) == [("3:0", "three"), ("4:0", "four")]

        # Doorbells for what was sent are dropped; the run's end sends its status, then done.
        await ring(running.id, chunk_event(four))
        await ring(running.id, run_event(await db(finish, running.id), "updated"))
        assert await next_batch(stream) == [
            (None, {"type": "status", "status": "success", "exit_code": 0}),
            (None, {"type": "done"}),
        ]
        with pytest.raises(StopAsyncIteration):
            await anext(stream)
        assert feed.finished

    asyncio.run(scenario())


def test_a_lost_doorbell_is_found_by_the_idle_resync_then_it_says_idle(running: Run) -> None:
    ref = run_ref(running.id)
    assert ref is not None

    async def scenario() -> None:
        stream = follow(RunLogFeed(ref, None), idle_seconds=0.2)
        assert await next_batch(stream) == [(None, {"type": "status", "status": "running"})]
        await db(store, running.id, 1, "unannounced\n")  # written, never published

        assert await next_batch(stream) == [("1:0", "unannounced")]
        assert await next_batch(stream) == []  # idle: a transport's cue for a keepalive
        await stream.aclose()

    asyncio.run(scenario())
