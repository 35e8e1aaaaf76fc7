"""The one seam through which every live event leaves a process.

The channel layer is a lossy doorbell (the database is the truth), but it is not thread-safe:
`async_to_sync(group_send)` from a worker thread loses messages against the in-memory layer
(shared/research/embedded-mode.md, Q2). So every publish hops onto one event loop and waits:
the ASGI server's loop in embedded mode (`set_loop`), else a private loop on a daemon thread.
Until the server's loop runs (recovery at start publishes each run it crashes), an event is
dropped, not waited on: nobody can be subscribed yet, and each wait would stall the start.
When the layer is down (Redis gone) a publisher tries once per `_Outage.COOL_DOWN_SECONDS` and
drops the events in between, with one warning for the outage.

A publish's events for one group go as one layer message (`envelopes`): with Redis each
message was a PUBLISH awaited in turn, and a batch of bus appends (two groups a message) was a
fifth of a production server's CPU (py-spy, `bench/api.py --only bus`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import suppress

from channels.layers import get_channel_layer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from conductor_site.live.events import ENVELOPE, Envelope, LiveEvent

log = logging.getLogger(__name__)

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_server_loop = False  # `_loop` is the server's (it runs once the server does), not ours
_closing = threading.Event()
_TIMEOUT = 10.0
# What a layer that is down raises (a bad message raises something else and drops only itself).
LAYER_DOWN = (OSError, RedisConnectionError, RedisTimeoutError)
ENVELOPE_MAX = 100  # events in one layer message


def set_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Publish on the server's own loop (embedded mode: the in-memory layer lives there)."""
    global _loop, _server_loop
    with _lock:
        _loop, _server_loop = loop, True
        _closing.clear()


def close() -> None:
    """Stop publishing: called before the server's loop stops, so no publisher waits on it."""
    _closing.set()


def _event_loop() -> asyncio.AbstractEventLoop | None:
    """The loop to publish on; None while the server's loop is not running."""
    global _loop, _server_loop
    with _lock:
        if _server_loop and _loop is not None and not _loop.is_closed():
            return _loop if _loop.is_running() else None
        if _loop is None or _loop.is_closed():
            _loop, _server_loop = asyncio.new_event_loop(), False
            threading.Thread(target=_loop.run_forever, name="publish-loop", daemon=True).start()
        return _loop


async def _send_all(items: list[tuple[str, LiveEvent]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group, message in envelopes(items):
        await layer.group_send(group, message)


def envelopes(items: list[tuple[str, LiveEvent]]) -> list[tuple[str, LiveEvent | Envelope]]:
    """The layer messages that carry `items`: each group's events in order, up to
    `ENVELOPE_MAX` in one `{"type": ENVELOPE, "events": [...]}` (a lone event as itself),
    which the group's subscribers unpack (`conductor_site.live.subscription`). Order across
    groups is not kept, and need not be: each feed follows one group's order, and a feed of
    several groups takes their messages as doorbells and reads the database
    (`conductor_site.live.event_feed`)."""
    by_group: dict[str, list[LiveEvent]] = {}
    for group, event in items:
        by_group.setdefault(group, []).append(event)
    messages: list[tuple[str, LiveEvent | Envelope]] = []
    for group, events in by_group.items():
        for start in range(0, len(events), ENVELOPE_MAX):
            part = events[start : start + ENVELOPE_MAX]
            envelope: Envelope = {"type": ENVELOPE, "events": part}
            messages.append((group, part[0] if len(part) == 1 else envelope))
    return messages


class _Outage:
    """After a failed publish, events are dropped for `COOL_DOWN_SECONDS` before the next try:
    a layer that is down (Redis gone) or hangs must not hold every log batch for `_TIMEOUT`,
    nor fill the log with one traceback per batch. Streams re-read the database."""

    COOL_DOWN_SECONDS = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failing = False
        self.retry_at = 0.0
        self.dropped = 0

    def dropping(self, count: int) -> bool:
        with self._lock:
            if self.failing and time.monotonic() < self.retry_at:
                self.dropped += count
                return True
            return False

    def failed(self, group: str, error: BaseException | None) -> None:
        with self._lock:
            first, self.failing = not self.failing, True
            self.retry_at = time.monotonic() + self.COOL_DOWN_SECONDS
        if first:
            log.warning(
                "publish to %s failed (%s): live events are dropped until the channel layer "
                "answers again (tried every %ss); streams re-read the database",
                group,
                repr(error) if error else f"no answer in {_TIMEOUT}s",
                self.COOL_DOWN_SECONDS,
            )

    def succeeded(self) -> None:
        if not self.failing:
            return
        with self._lock:
            self.failing, dropped, self.dropped = False, self.dropped, 0
        log.warning("publishing works again; %d live events were dropped meanwhile", dropped)


_outage = _Outage()


def publish(items: Iterable[tuple[str, LiveEvent]]) -> None:
    """Send each `(group, event)` in order; never raises: a lost event is re-read from the DB.
    The one way an event leaves a process: build it with `conductor_site.live.events`."""
    batch = list(items)
    loop = _loop_for(batch)
    if loop is None:
        return
    future = asyncio.run_coroutine_threadsafe(_sent(batch), loop)
    waited = 0.0
    while not _closing.is_set():
        try:
            future.result(timeout=0.25)
            return
        except FutureTimeout:
            waited += 0.25
            if waited >= _TIMEOUT:  # `_sent` gives up then too, unless the loop is stuck
                _outage.failed(batch[0][0], None)
                break
    future.cancel()


def publish_soon(items: Iterable[tuple[str, LiveEvent]]) -> None:
    """`publish` for a thread with more to do than wait for the loop (the message bus's
    writer): the events are sent on the publishing loop after those of every earlier
    `publish_soon`, so they leave in the order of the calls, as the callers of `publish`
    get it by waiting. A hop onto the loop and no wake-up back."""
    batch = list(items)
    loop = _loop_for(batch)
    if loop is not None:
        with suppress(RuntimeError):  # the loop closed meanwhile: dropped
            loop.call_soon_threadsafe(_send_in_turn, batch)


def _loop_for(batch: list[tuple[str, LiveEvent]]) -> asyncio.AbstractEventLoop | None:
    """The loop to send the batch on; None: nothing to send, or it is dropped."""
    if not batch or _closing.is_set() or _outage.dropping(len(batch)):
        return None
    return _event_loop()


_in_turn: asyncio.Task[None] | None = None  # the last `publish_soon`'s send, on its loop


def _send_in_turn(batch: list[tuple[str, LiveEvent]]) -> None:
    global _in_turn
    _in_turn = asyncio.ensure_future(_sent_after(_in_turn, batch))


async def _sent_after(
    previous: asyncio.Task[None] | None, batch: list[tuple[str, LiveEvent]]
) -> None:
    if previous is not None and previous.get_loop() is asyncio.get_running_loop():
        await previous
    await _sent(batch)


async def _sent(batch: list[tuple[str, LiveEvent]]) -> None:
    """Send the batch, or give up within `_TIMEOUT`; never raises."""
    try:
        async with asyncio.timeout(_TIMEOUT):
            await _send_all(batch)
        _outage.succeeded()
    except TimeoutError:  # before LAYER_DOWN: it is an OSError
        _outage.failed(batch[0][0], None)
    except LAYER_DOWN as exc:
        _outage.failed(batch[0][0], exc)
    except Exception:
        log.warning("publish to %s failed", batch[0][0], exc_info=True)
