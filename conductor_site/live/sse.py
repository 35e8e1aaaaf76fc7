"""Server-sent events: a feed (`conductor_site.live.engine`) framed as SSE text
(docs/api/streams.md).

This module only frames: `event_stream()` lets go of the request's thread, opens with
`: connected`, turns each batch of the engine into `id:`/`event:`/`data:` frames (joined into
writes of up to `FRAMES_PER_WRITE`), and writes `: keepalive` when the engine says the feed
was idle for `SSE_KEEPALIVE_SECONDS` (15 s). It also holds what every SSE view checks before
it streams (method, ids, the cursor), answered with the house error shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse

from conductor_site.errors import error_json
from conductor_site.ids import is_identifier
from conductor_site.live.backpressure import Pace, keep_up
from conductor_site.live.engine import Batch, Feed, FeedEvent, follow, framed
from conductor_site.renderers import compact_json

OPENED = ": connected\n\n"
KEEPALIVE = ": keepalive\n\n"
LAGGED = 'event: lagged\ndata: {"type":"lagged"}\n\n'
FRAMES_PER_WRITE = 500
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
    """Compact JSON is one line (it escapes every CR and LF inside strings), so it is one
    `data:` line without `sse_frame`'s split: the run log's hot path, once per line
    (encoded by orjson where it writes the same, `conductor_site.renderers.compact_json`)."""
    encoded = compact_json(payload)
    text = (
        encoded.decode()
        if encoded is not None
        else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    )
    head = (f"id: {id}\n" if id is not None else "") + (f"event: {event}\n" if event else "")
    return f"{head}data: {text}\n\n"


def sse_event(event: FeedEvent) -> str:
    """A feed's event as SSE: raw text as it is, a payload as compact JSON."""
    if isinstance(event.data, str):
        return sse_frame(event.data, event=event.name, id=event.id)
    return sse_json(event.data, event=event.name, id=event.id)


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
        return error_json(405, f"method {request.method} not allowed: streams are GET")
    for name, value in ids.items():
        if value is not None and not is_identifier(value):
            return error_json(400, f"invalid {name} {value!r}")
    return None


async def event_stream(feed: Feed) -> AsyncIterator[str]:
    """The feed as SSE text, until it finishes or the client goes (Django cancels it). A
    client that cannot keep up gets `lagged` and the rest from the database, or is dropped
    (`conductor_site.live.backpressure`)."""
    release_request_thread()
    yield OPENED
    async with aclosing(follow(feed, keepalive_seconds())) as batches:
        async for batch in batches:
            if not batch:
                yield KEEPALIVE
                continue
            for text in sse_writes(batch):
                yield text
                pace = await keep_up(feed.subscription)
                if pace is Pace.STALLED:
                    return
                if pace is Pace.LAGGED:
                    yield LAGGED


def sse_writes(batch: Batch) -> list[str]:
    """A batch as writes of up to `FRAMES_PER_WRITE` frames, each event formatted once in
    this process however many streams send it (`framed`)."""
    return [
        "".join(framed(e, "sse", sse_event) for e in batch[start : start + FRAMES_PER_WRITE])
        for start in range(0, len(batch), FRAMES_PER_WRITE)
    ]


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
