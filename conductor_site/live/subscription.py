"""A channel joined to channel-layer groups, that never holds a feed back.

The layer can be down or hang (Redis gone) while the database, the truth, is fine: joining
tries once, for at most `JOIN_TIMEOUT`, then goes on without it and rejoins in the background;
once joined again it marks the subscription `lost`, and the feed re-reads the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from typing import Any

from channels.layers import get_channel_layer

from conductor_site.live.events import LiveEvent

log = logging.getLogger(__name__)

QUEUE_MAX = 10_000  # live messages waiting for the feed; past it they count as lost
BATCH_MAX = 1_000
GROUP_REFRESH_SECONDS = 3_600  # the in-memory layer forgets group members after a day
JOIN_TIMEOUT = 1.0  # one try at the channel layer; past it a feed goes on from the database
REJOIN_FIRST_SECONDS = 0.25  # then it tries again in the background, backing off
REJOIN_MAX_SECONDS = 5.0
PROBE_GROUP = "sse.probe"


class Subscription:
    """A channel joined to groups; a pump task moves what arrives onto a local queue.

    Joining never holds a feed back: the layer can be down or hang (Redis gone) while the
    database, the truth, is fine. `__aenter__` tries once, for at most `JOIN_TIMEOUT` (the
    usual case: joined before the replay, so nothing published from then on is missed). If
    that fails the feed replays and follows the database alone (keepalive resyncs), while
    `_rejoin` keeps trying in the background; once it has joined it marks the subscription
    `lost` and wakes the feed, which re-reads the database after its cursor: whatever was
    written while it was not subscribed arrives, then it follows live again.
    """

    def __init__(self, groups: list[str]) -> None:
        self.groups: set[str] = set(groups)  # wanted; `_joined` holds those the layer has
        self._joined: set[str] = set()
        self.lost = False
        self._held = False  # its client cannot keep up: drop what arrives (`hold`)
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_MAX)
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

    async def receive(self, timeout: float) -> list[LiveEvent] | None:
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

    def hold(self) -> None:
        """Stop queueing while the client's send queue is full: what waits and what arrives
        is dropped and the feed marked `lost`, so a stalled client holds no memory here and
        its feed re-reads the database once it reads on (`release`)."""
        self._held, self.lost = True, True
        while not self._queue.empty():
            self._queue.get_nowait()

    def release(self) -> None:
        self._held = False
        with suppress(asyncio.QueueFull):
            self._queue.put_nowait(_WAKE)  # the feed sees `lost` at once, not at its keepalive

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
                log.warning("feed not subscribed (%r): following the database", exc)
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
                log.warning("channel receive failed; re-reading the database", exc_info=True)
                self.lost = True
                await asyncio.sleep(1)
                continue
            if self._held:
                self.lost = True
                continue
            try:
                self._queue.put_nowait(message)
            except asyncio.QueueFull:
                self.lost = True


_WAKE: dict[str, Any] = {"type": "sse.wake"}  # put on a feed's queue by identity only
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
    """Leave the groups in the background: a feed's end must not wait on a layer that
    hangs."""

    async def leave() -> None:
        for group in groups:
            with suppress(Exception):
                await asyncio.wait_for(layer.group_discard(group, channel), JOIN_TIMEOUT)

    task = asyncio.create_task(leave())
    _leaving.add(task)
    task.add_done_callback(_leaving.discard)
