"""The feed engine: the one copy of subscribe → replay → live → resync → end (DESIGN.md §5).

A `Feed` is one stream's content, written once and known to no transport; `follow()` drives
it and yields batches of `FeedEvent`s, which a transport only formats (`conductor_site.live.sse`
as SSE text; a WebSocket consumer as JSON frames):

1. it joins the feed's channel-layer groups FIRST, so nothing published from then on is
   missed; when the layer is down or slow it goes on without it (`Subscription`), joins in
   the background and then re-reads the database (a gap), so a Redis outage delays live
   events, never the replay, and loses nothing;
2. `replay()` reads from the database what the client has not seen (after its cursor);
3. then it follows live: `live()` gets every batch of group messages. The channel layer is a
   lossy doorbell, so a feed drops what it already sent (by cursor) and re-reads the database
   on a gap, or whenever a message is only a doorbell;
4. when nothing was sent for `idle_seconds` it calls `resync()`, which re-reads the database
   (a lost doorbell delays, never loses), and yields an empty batch: the transport's cue for a
   keepalive;
5. it ends when the feed says so (`finished`) or when the transport closes it: a transport
   iterates it inside `contextlib.aclosing`, so a client that goes leaves its groups at once,
   not when the generator is collected.

While idle a feed is one coroutine waiting on a queue: no thread, no database connection.
Database reads go through `db()`, on the loop's shared executor, which gives the connection
back after each read (to the pool in production; embedded, the thread keeps its SQLite one).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from channels.db import database_sync_to_async

from conductor_site.live.events import LiveEvent
from conductor_site.live.subscription import Subscription

T = TypeVar("T")


@dataclass(slots=True)  # not frozen: that costs 1 µs more per line (bench/feed_framing.py)
class FeedEvent:
    """One event for the client: `data` is a JSON payload, or raw text (a run file's bytes);
    `name` its kind where the stream names kinds (SSE `event:`); `id` the cursor to resume
    after it. Never changed once made, except `frames`: its text per wire format once a
    transport formatted it (`framed`), so an event shared by many viewers (`SharedBatches`)
    is formatted once per format in this process."""

    data: Mapping[str, Any] | str
    name: str | None = None
    id: str | None = None
    frames: dict[str, str] | None = field(default=None, compare=False, repr=False)


Batch = list[FeedEvent]


def framed(event: FeedEvent, wire: str, frame: Callable[[FeedEvent], str]) -> str:
    """The event formatted for `wire` ("sse", "ws") by `frame`, formatted only the first time."""
    frames = event.frames
    if frames is None:
        frames = event.frames = {}
    text = frames.get(wire)
    if text is None:
        text = frames[wire] = frame(event)
    return text


class SharedBatches:
    """The batches made lately from sources that never change (a stored log chunk: its `seq`
    names its text for good), kept so that every viewer of one in this process sends the same
    `FeedEvent`s, and each is formatted once per wire format, not once per viewer (with 200
    viewers of a run, per-viewer JSON encoding was half the server's CPU). Bounded by the
    size of the sources kept, oldest dropped first. Used on the server's loop only."""

    def __init__(self, max_size: int) -> None:
        self._batches: OrderedDict[Hashable, tuple[Batch, int]] = OrderedDict()
        self._size = 0
        self._max_size = max_size

    def get(self, key: Hashable, size: int, make: Callable[[], Batch]) -> Batch:
        kept = self._batches.get(key)
        if kept is not None:
            self._batches.move_to_end(key)
            return kept[0]
        batch = make()
        self._batches[key] = (batch, size)
        self._size += size
        while self._size > self._max_size and self._batches:
            _, (_, dropped) = self._batches.popitem(last=False)
            self._size -= dropped
        return batch


class Feed(Protocol):
    """One stream's content. Each method yields batches of events, oldest first."""

    groups: list[str]
    finished: bool
    subscription: Subscription | None

    def replay(self) -> AsyncIterator[Batch]: ...

    def live(self, messages: list[LiveEvent], lost: bool) -> AsyncIterator[Batch]: ...

    def resync(self) -> AsyncIterator[Batch]: ...


async def db(func: Callable[..., T], *args: Any) -> T:
    """A short database read on the loop's shared executor; the connection is closed after."""
    return await database_sync_to_async(func, thread_sensitive=False)(*args)


async def follow(feed: Feed, idle_seconds: float) -> AsyncGenerator[Batch, None]:
    """Subscribe, replay, then follow live until the feed finishes; an empty batch after
    `idle_seconds` with nothing sent."""
    async with Subscription(feed.groups) as subscription:
        feed.subscription = subscription
        async for batch in feed.replay():
            if batch:
                yield batch
        last_sent = last_sync = time.monotonic()
        while not feed.finished:
            wait = min(last_sent, last_sync) + idle_seconds - time.monotonic()
            messages = await subscription.receive(wait)
            lost = subscription.take_lost()
            if messages or lost:
                async for batch in feed.live(messages or [], lost):
                    if batch:
                        yield batch
                        last_sent = time.monotonic()
            if not feed.finished and time.monotonic() - last_sync >= idle_seconds:
                last_sync = time.monotonic()
                await subscription.refresh()
                async for batch in feed.resync():
                    if batch:
                        yield batch
                        last_sent = time.monotonic()
            if not feed.finished and time.monotonic() - last_sent >= idle_seconds:
                yield []
                last_sent = time.monotonic()
