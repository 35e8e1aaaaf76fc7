"""Server-sent events: the machinery every stream shares (docs/api/streams.md).

A stream is a `Feed` driven by `event_stream()`:

1. it joins its channel-layer groups FIRST, so nothing published from then on is missed; when
   the layer is down or slow (`JOIN_TIMEOUT`) it goes on without it, joins in the background
   and then re-reads the database (a gap), so a Redis outage delays live events, never the
   replay, and loses nothing;
2. `replay()` reads from the database what the client has not seen (after its cursor);
3. then it follows live: `live()` gets every batch of group messages. The channel layer is a
   lossy doorbell (DESIGN.md §5), so a feed drops what it already sent (by cursor) and
   re-reads the database on a gap, or whenever a message is only a doorbell;
4. when nothing was written for `SSE_KEEPALIVE_SECONDS` (15 s) it sends `: keepalive` and
   calls `resync()`, which re-reads the database: a lost doorbell delays, never loses;
5. it ends when the feed says so (`finished`) or when the client goes (Django cancels it).

While idle a stream is one coroutine waiting on a queue: no thread, no database connection.
Database reads go through `database_sync_to_async` on the loop's shared executor (not the
request's own thread), which closes the connection after each read (`CONN_MAX_AGE=0`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from typing import Any, Protocol, TypeVar

from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse

from conductor_site.errors import error_body
from conductor_site.ids import is_identifier

log = logging.getLogger(__name__)

T = TypeVar("T")

OPENED = ": connected\n\n"
KEEPALIVE = ": keepalive\n\n"
QUEUE_MAX = 10_000  # live messages waiting for the stream; past it they count as lost
BATCH_MAX = 1_000
FRAMES_PER_WRITE = 500
GROUP_REFRESH_SECONDS = 3_600  # the in-memory layer forgets group members after a day
JOIN_TIMEOUT = 1.0  # one try at the channel layer; past it a stream goes on from the database
REJOIN_FIRST_SECONDS = 0.25  # then it tries again in the background, backing off
REJOIN_MAX_SECONDS = 5.0
PROBE_GROUP = "sse.probe"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def keepalive_seconds() -> float:
    return max(float(settings.CONDUCTOR["SSE_KEEPALIVE_SECONDS"]), 0.05)


def sse_frame(data: str, *, event: str | None = None, id: str | None = None) -> str:
    """One event. Each line of `data` (any of CR, LF, CRLF ends one) is its own `data:` line,
    so a client rejoins the text exactly (a lone CR comes back as LF)."""
    head = (f"id: {id}\n" if id is not None else "") + (f"event: {event}\n" if event else "")
    body = "".join(f"data: {piece}\n" for piece in _LINE_BREAK.split(data))
    return f"{head}{body}\n"


def sse_json(payload: Any, *, event: str | None = None, id: str | None = None) -> str:
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return sse_frame(text, event=event, id=id)


def sse_batched(frames: list[str]) -> list[str]:
    """The frames joined into writes of up to `FRAMES_PER_WRITE` each."""
    return [
        "".join(frames[i : i + FRAMES_PER_WRITE]) for i in range(0, len(frames), FRAMES_PER_WRITE)
    ]


async def db(func: Callable[..., T], *args: Any) -> T:
    """A short database read on the loop's shared executor; the connection is closed after."""
    return await database_sync_to_async(func, thread_sensitive=False)(*args)


def error_response(status: int, message: str, **details: Any) -> JsonResponse:
    return JsonResponse(error_body(status, message, details), status=status)


def cursor_param(request: HttpRequest, *names: str) -> str | None:
    """The client's cursor: `Last-Event-ID` (sent by a reconnecting EventSource, so newer)
    before the query parameters `names` (`after`, ...). Empty means none."""
    value = request.headers.get("Last-Event-ID", "").strip()
    for name in names:
        value = value or request.GET.get(name, "").strip()
    return value or None


def refused(request: HttpRequest, **ids: str | None) -> JsonResponse | None:
    """The error for a request no stream serves: not a GET (405), or an id in the path or
    query that is not an identifier (400). None when the stream may go on."""
    if request.method != "GET":
        return error_response(405, f"method {request.method} not allowed: streams are GET")
    for name, value in ids.items():
        if value is not None and not is_identifier(value):
            return error_response(400, f"invalid {name} {value!r}")
    return None


class Subscription:
    """A channel joined to groups; a pump task moves what arrives onto a local queue.

    Joining never holds a stream back: the layer can be down or hang (Redis gone) while the
    database, the truth, is fine. `__aenter__` tries once, for at most `JOIN_TIMEOUT` (the
    usual case: joined before the replay, so nothing published from then on is missed). If
    that fails the stream replays and follows the database alone (keepalive resyncs), while
    `_rejoin` keeps trying in the background; once it has joined it marks the subscription
    `lost` and wakes the stream, which re-reads the database after its cursor: whatever was
    written while it was not subscribed arrives, then it follows live again.
    """

    def __init__(self, groups: list[str]) -> None:
        self.groups: set[str] = set(groups)  # wanted; `_joined` holds those the layer has
        self._joined: set[str] = set()
        self.lost = False
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_MAX)
        self._layer = get_channel_layer()
        self._channel = ""
        self._pump: asyncio.Task[None] | None = None
        self._rejoining: asyncio.Task[None] | None = None
        self._refreshed = time.monotonic()

    async def __aenter__(self) -> Subscription:
        if self._layer is not None and not await self._join():
            self._rejoin_later()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in (self._rejoining, self._pump):
            if task is not None:
                task.cancel()
        if self._layer is not None and self._joined:
            _leave_later(self._layer, self._channel, set(self._joined))
        self.groups.clear()
        self._joined.clear()

    async def add(self, group: str) -> None:
        if self._layer is None or group in self.groups:
            return
        self.groups.add(group)
        if self._rejoining is None and not await self._join():
            self._rejoin_later()

    async def discard(self, group: str) -> None:
        self.groups.discard(group)
        if self._layer is not None and group in self._joined:
            self._joined.discard(group)
            with suppress(Exception):
                await asyncio.wait_for(
                    self._layer.group_discard(group, self._channel), JOIN_TIMEOUT
                )

    async def refresh(self) -> None:
        """Re-join every group now and then: memberships of the in-memory layer expire."""
        if self._layer is None or time.monotonic() - self._refreshed < GROUP_REFRESH_SECONDS:
            return
        self._refreshed = time.monotonic()
        for group in list(self._joined):
            with suppress(Exception):
                await asyncio.wait_for(self._layer.group_add(group, self._channel), JOIN_TIMEOUT)

    async def receive(self, timeout: float) -> list[dict[str, Any]] | None:
        """Every message waiting (at least one), or None after `timeout` seconds. An empty
        list when only woken (after a rejoin: `lost` is set)."""
        try:
            first = await asyncio.wait_for(self._queue.get(), max(timeout, 0.001))
        except TimeoutError:
            return None
        batch = [first]
        while not self._queue.empty() and len(batch) < BATCH_MAX:
            batch.append(self._queue.get_nowait())
        return [message for message in batch if message is not _WAKE]

    def take_lost(self) -> bool:
        lost, self.lost = self.lost, False
        return lost

    async def _join(self) -> bool:
        """Open the channel and join each wanted group not joined yet; False if the layer
        failed or took longer than `JOIN_TIMEOUT`."""
        try:
            await asyncio.wait_for(self._join_missing(), JOIN_TIMEOUT)
        except Exception as exc:  # TimeoutError, ConnectionError, OSError, ...
            if self._rejoining is None:  # once per outage, not once per retry
                log.warning("SSE stream not subscribed (%r): following the database", exc)
            return False
        return True

    async def _join_missing(self) -> None:
        assert self._layer is not None
        if not self._channel:
            self._channel = await self._layer.new_channel("sse.")
            self._pump = asyncio.create_task(self._pump_messages())
        for group in sorted(self.groups - self._joined):
            await self._layer.group_add(group, self._channel)
            self._joined.add(group)

    def _rejoin_later(self) -> None:
        if self._rejoining is None:
            self._rejoining = asyncio.create_task(self._rejoin())

    async def _rejoin(self) -> None:
        delay = REJOIN_FIRST_SECONDS
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, REJOIN_MAX_SECONDS)
            if await _layer_answers(self._layer) and await self._join():
                break
        self._rejoining = None
        self.lost = True  # what was published while not joined is in the database
        with suppress(asyncio.QueueFull):
            self._queue.put_nowait(_WAKE)

    async def _pump_messages(self) -> None:
        assert self._layer is not None
        while True:
            try:
                message = await self._layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("SSE channel receive failed; re-reading the database", exc_info=True)
                self.lost = True
                await asyncio.sleep(1)
                continue
            try:
                self._queue.put_nowait(message)
            except asyncio.QueueFull:
                self.lost = True


_WAKE: dict[str, Any] = {"type": "sse.wake"}  # put on a stream's queue by identity only
_leaving: set[asyncio.Task[None]] = set()


async def _layer_answers(layer: Any) -> bool:
    """A send to a group nobody joined: a cheap probe that, unlike a failed `new_channel`,
    leaves nothing behind in the layer."""
    try:
        await asyncio.wait_for(layer.group_send(PROBE_GROUP, {"type": "sse.probe"}), JOIN_TIMEOUT)
    except Exception:
        return False
    return True


def _leave_later(layer: Any, channel: str, groups: set[str]) -> None:
    """Leave the groups in the background: a stream's end must not wait on a layer that
    hangs."""

    async def leave() -> None:
        for group in groups:
            with suppress(Exception):
                await asyncio.wait_for(layer.group_discard(group, channel), JOIN_TIMEOUT)

    task = asyncio.create_task(leave())
    _leaving.add(task)
    task.add_done_callback(_leaving.discard)


class Feed(Protocol):
    """One stream's content. Each method yields ready SSE text."""

    groups: list[str]
    finished: bool
    subscription: Subscription | None

    def replay(self) -> AsyncIterator[str]: ...

    def live(self, messages: list[dict[str, Any]], lost: bool) -> AsyncIterator[str]: ...

    def resync(self) -> AsyncIterator[str]: ...


async def event_stream(feed: Feed) -> AsyncIterator[str]:
    """Subscribe, replay, then follow live until the feed finishes or the client goes."""
    release_request_thread()
    interval = keepalive_seconds()
    yield OPENED
    async with Subscription(feed.groups) as subscription:
        feed.subscription = subscription
        async for frame in feed.replay():
            yield frame
        last_write = last_sync = time.monotonic()
        while not feed.finished:
            wait = min(last_write, last_sync) + interval - time.monotonic()
            messages = await subscription.receive(wait)
            lost = subscription.take_lost()
            if messages or lost:
                async for frame in feed.live(messages or [], lost):
                    yield frame
                    last_write = time.monotonic()
            if not feed.finished and time.monotonic() - last_sync >= interval:
                last_sync = time.monotonic()
                await subscription.refresh()
                async for frame in feed.resync():
                    yield frame
                    last_write = time.monotonic()
            if not feed.finished and time.monotonic() - last_write >= interval:
                yield KEEPALIVE
                last_write = time.monotonic()


def sse_response(feed: Feed) -> StreamingHttpResponse:
    response = StreamingHttpResponse(event_stream(feed), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def release_request_thread() -> None:
    """Let go of the thread Django ran this request's sync code on, for as long as it streams.

    Why: Django's `ASGIHandler.__call__` serves each request inside its own asgiref
    `ThreadSensitiveContext`. The first thread-sensitive `sync_to_async` call in it creates a
    one-thread executor for that context (every request makes one: Django sends
    `request_started` to its sync receivers `reset_queries` and `close_old_connections`
    that way, then runs sync middleware on it), and asgiref shuts it down only when the
    context exits: after the response is complete, so for a stream when the client leaves.
    Middleware is done by the time the body is iterated and the streams read the database on
    the shared executor (`db()`), so that thread would only sit parked, one per open stream.
    A later thread-sensitive call in this request (Django closing the response) simply gets
    a fresh executor.

    Neither Django 5.2 nor asgiref has a public way to end that executor early:
    `ThreadSensitiveContext(executor=...)` only picks the executor of a new, nested context,
    and `ASGIHandler` creates its context itself. So this reads two private class attributes,
    `SyncToAsync.thread_sensitive_context` (the current context) and
    `SyncToAsync.context_to_thread_executor` (context -> its executor), which came with
    asgiref's per-context executors (django/asgiref#227, 2021). Checked against asgiref
    3.13.0 with Django 5.2.19. Under an asgiref without them the stream keeps its thread and
    works; tests/messagebus/test_sse_request_thread.py fails so an upgrade cannot hide it.
    """
    context_var = getattr(SyncToAsync, "thread_sensitive_context", None)
    executors = getattr(SyncToAsync, "context_to_thread_executor", None)
    context = context_var.get(None) if context_var is not None else None
    if context is None or executors is None:
        return
    executor = executors.pop(context, None)
    if executor is not None:
        executor.shutdown(wait=False)
