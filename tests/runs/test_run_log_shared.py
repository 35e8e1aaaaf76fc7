"""Viewers of one run in one process send the same events for a chunk, so each line is
formatted once per wire format however many watch (runs/streams/run_log.py)."""

from __future__ import annotations

import asyncio
import copy

from conductor_site.live.sse import sse_writes
from runs.streams.run_log import RunLogFeed
from runs.streams.run_reads import RunRef
from tests.helpers import log_chunk_event


def run(run_id: str) -> RunRef:
    return RunRef(run_id, "demo", "t1", "shell", "agent")


def live_lines(feed: RunLogFeed, seq: int, text: str) -> list[object]:
    """What the feed sends for a chunk arriving live (each viewer gets its own copy of the
    message, as from the channel layer)."""

    async def take() -> list[object]:
        message = copy.deepcopy(log_chunk_event(feed.log.run_id, seq, text))
        return [event async for batch in feed.live([message], False) for event in batch]

    return asyncio.run(take())


def test_two_viewers_of_a_chunk_send_the_same_events() -> None:
    first, second = RunLogFeed(run("r-two"), None), RunLogFeed(run("r-two"), None)

    one = live_lines(first, 1, "a\nb\n")
    two = live_lines(second, 1, "a\nb\n")

    assert len(one) == 2 and all(a is b for a, b in zip(one, two, strict=True))
    assert sse_writes(one) == sse_writes(two)  # type: ignore[arg-type]


def test_a_viewer_resuming_inside_a_chunk_shares_the_lines_it_has_not_seen() -> None:
    whole = live_lines(RunLogFeed(run("r-resumed"), None), 1, "a\nb\nc\n")

    rest = live_lines(RunLogFeed(run("r-resumed"), (1, 0)), 1, "a\nb\nc\n")

    assert [e.id for e in rest] == ["1:1", "1:2"]  # type: ignore[attr-defined]
    assert rest[0] is whole[1] and rest[1] is whole[2]
