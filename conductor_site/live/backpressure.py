"""Each stream's bounded send queue: a client that cannot keep up is told, or closed, and
never slows another client, the agent, or the log writer.

Daphne never makes a `send` wait: what a stream writes goes into its connection's Twisted
transport buffer, which grows without bound for a client that stops reading (a stalled
browser tab, a suspended laptop). That buffer is the stream's send queue, so `SendBuffers`
(ASGI middleware, installed by the server) hands each connection's `Wire` to the code that
streams on it (a context variable: the SSE views and the WebSocket consumers need no new
argument). After each write a transport calls `keep_up()`:

- under `STREAM_SEND_BUFFER_BYTES` unsent, it goes on, after letting the loop run once: as
  no send waits, a stream with a long batch would otherwise keep the server's loop from its
  other streams and its sockets (with 200 busy viewers, past Daphne's 30 s ping timeout);
- past it, the feed's subscription is put on hold (what is published meanwhile is dropped
  and the feed marked `lost`, so nothing piles up in memory) and the stream waits for the
  client to read the buffer down to a quarter. If it does within `STREAM_STALL_SECONDS`
  the answer is `LAGGED`: the transport sends `lagged` and the feed goes on from the
  database after its cursor (the `lost` mark), so the client misses nothing;
- if it does not, `STALLED`: the transport aborts the connection (a client that does not
  read cannot be told anything more); it reconnects with its cursor when it wakes.

The kernel's socket buffer holds what a stream wrote too (on loopback, megabytes), so a stream
may end while a slow client has yet to read its tail. A WebSocket's close then waits as long
as a stall may last for the client's answer (`close_wait_seconds`) before the connection is
dropped, which would throw that tail away.

Outside Daphne (the test `WebsocketCommunicator`) a connection has no transport to measure,
and `keep_up()` always answers `ON`.
"""

from __future__ import annotations

import asyncio
import enum
import time
from contextvars import ContextVar
from typing import Any

from django.conf import settings

from conductor_site.live.subscription import Subscription

DRAIN_CHECK_SECONDS = 0.02  # how often a held stream looks at its buffer again


class Pace(enum.Enum):
    ON = "on"  # the client keeps up
    LAGGED = "lagged"  # it fell behind, then read on: tell it, resume from the database
    STALLED = "stalled"  # it stopped reading: close it


class Wire:
    """One connection's transport as a stream sees it: the bytes written that the client
    has not taken yet, and a way to drop the connection."""

    def __init__(self, transport: Any = None) -> None:
        self._transport = transport

    def unsent(self) -> int:
        """What the transport holds back because the peer's socket is full (Twisted's
        `FileDescriptor` buffer: `dataBuffer` from `offset`, plus `_tempDataBuffer`). These
        are private to Twisted; tests/conductor_site/test_backpressure.py fails if they go."""
        transport = self._transport
        if transport is None:
            return 0
        pending = len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)
        return pending + int(getattr(transport, "_tempDataLen", 0))

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abortConnection()

    async def drained(self, below: int, seconds: float) -> bool:
        """Whether the client read the buffer down to `below` bytes within `seconds`."""
        deadline = time.monotonic() + seconds
        while self.unsent() > below:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(DRAIN_CHECK_SECONDS)
        return True


current_wire: ContextVar[Wire | None] = ContextVar("current_wire", default=None)


def send_buffer_bytes() -> int:
    return int(settings.CONDUCTOR["STREAM_SEND_BUFFER_BYTES"])


def stall_seconds() -> float:
    return float(settings.CONDUCTOR["STREAM_STALL_SECONDS"])


def close_wait_seconds() -> float:
    """How long a WebSocket closed by the server (its feed ended) waits for the client's
    close frame before the connection is aborted: the stall limit. What was sent before the
    close may still sit in the socket's buffers, and an abort throws it away; Autobahn's own
    1 s cut the rest of a run's log and its `done` off a client that was reading slowly."""
    return stall_seconds()


async def keep_up(subscription: Subscription | None) -> Pace:
    """After a write: whether the client keeps up with this connection's stream, waiting
    (the feed on hold) while its send queue is full."""
    wire = current_wire.get()
    bound = send_buffer_bytes()
    if wire is None or wire.unsent() <= bound:
        await asyncio.sleep(0)  # Daphne's send never waits: let the loop serve the others
        return Pace.ON
    if subscription is not None:
        subscription.hold()
    try:
        caught_up = await wire.drained(bound // 4, stall_seconds())
    finally:
        if subscription is not None:
            subscription.release()
    if not caught_up:
        wire.abort()
        return Pace.STALLED
    return Pace.LAGGED


class SendBuffers:
    """ASGI middleware: makes each connection's `Wire` the stream's `current_wire`. Daphne
    calls an application with `send = partial(server.handle_reply, protocol)`; the protocol
    (an HTTP request or a WebSocket) holds the connection's transport."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        protocol = next(iter(getattr(send, "args", ())), None)
        current_wire.set(Wire(getattr(protocol, "transport", None)))
        await self.app(scope, receive, send)
