"""Feeds' subscriptions to channel-layer groups: one channel per group per process, shared by
every feed of that group, that never holds a feed back.

With 200 viewers of one run, a channel per viewer cost the layer 200 deliveries per message
(the in-memory layer also copies the message and walks every channel it has on each
receive), and 200 pump tasks waking; now the process's one channel for the run's group takes
each message once and hands the same message to every viewer's queue (feeds only read it).

The layer can be down or hang (Redis gone) while the database, the truth, is fine: joining
tries once, for at most `JOIN_TIMEOUT`, then goes on without it and rejoins in the background;
once joined again every subscription of the group is marked `lost`, and its feed re-reads
the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from contextlib import suppress
from typing import Any

from channels.layers import get_channel_layer

from conductor_site.live.events import ENVELOPE, LiveEvent

log = logging.getLogger(__name__)

QUEUE_MAX = 10_000  # live messages waiting for the feed; past it they count as lost
BATCH_MAX = 1_000
GROUP_REFRESH_SECONDS = 3_600  # the in-memory layer forgets group members after a day
JOIN_TIMEOUT = 1.0  # one try at the channel layer; past it a feed goes on from the database
REJOIN_FIRST_SECONDS = 0.25  # then it tries again in the background, backing off
REJOIN_MAX_SECONDS = 5.0
PROBE_GROUP = "sse.probe"


class Subscription:
    """A feed's groups; what arrives for any of them waits on a local queue for the feed.

    Joining never holds a feed back: `__aenter__` joins each group's shared channel, trying
    the layer once for at most `JOIN_TIMEOUT` (usually it is joined already, by another
    viewer, or joins at once: before the replay, so nothing published from then on is
    missed). If that fails the feed replays and follows the database alone (keepalive
    resyncs) while the group's channel keeps trying in the background; once joined it marks
    this subscription `lost` and wakes the feed, which re-reads the database after its
    cursor: whatever was written meanwhile arrives, then it follows live again.
    """

    def __init__(self, groups: list[str]) -> None:
        self.groups: set[str] = set(groups)
        self.lost = False
        self._held = False  # its client cannot keep up: drop what arrives (`hold`)
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_MAX)
        self._layer = get_channel_layer()
        self._channels: dict[str, GroupChannel] = {}

    async def __aenter__(self) -> Subscription:
        layer_answered = True
        for group in sorted(self.groups):
            channel = self._attach(group)
            if channel is None:
                continue
            if layer_answered:
                layer_answered = await channel.join()
            else:  # one wait on a layer that fails is enough: the rest join in the background
                channel.rejoin_later()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for channel in self._channels.values():
            channel.detach(self)
        self._channels.clear()
        self.groups.clear()

    async def add(self, group: str) -> None:
        if self._layer is None or group in self.groups:
            return
        self.groups.add(group)
        channel = self._attach(group)
        if channel is not None:
            await channel.join()

    async def discard(self, group: str) -> None:
        self.groups.discard(group)
        channel = self._channels.pop(group, None)
        if channel is not None:
            channel.detach(self)

    async def refresh(self) -> None:
        """Re-join every group now and then: memberships of the in-memory layer expire."""
        for channel in list(self._channels.values()):
            await channel.refresh()

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
        self.wake()  # the feed sees `lost` at once, not at its keepalive

    def take_lost(self) -> bool:
        lost, self.lost = self.lost, False
        return lost

    def deliver(self, message: LiveEvent) -> None:
        """A message of one of its groups (shared with the group's other subscriptions)."""
        if self._held:
            self.lost = True
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.lost = True

    def wake_lost(self) -> None:
        """Messages may have gone by unseen: the feed re-reads the database."""
        self.lost = True
        self.wake()

    def wake(self) -> None:
        with suppress(asyncio.QueueFull):
            self._queue.put_nowait(_WAKE)

    def _attach(self, group: str) -> GroupChannel | None:
        if self._layer is None:
            return None
        channel = GroupChannel.of(self._layer, group)
        channel.members.add(self)
        self._channels[group] = channel
        return channel


class GroupChannel:
    """This process's one channel joined to `group`, on this event loop, handing what
    arrives to every member subscription. Made by the first member, left by the last."""

    _open: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[int, str], Any]] = (
        weakref.WeakKeyDictionary()
    )

    @classmethod
    def of(cls, layer: Any, group: str) -> GroupChannel:
        on_loop = cls._open.setdefault(asyncio.get_running_loop(), {})
        key = (id(layer), group)  # the channel holds its layer: the id names it while open
        channel: GroupChannel | None = on_loop.get(key)
        if channel is None:
            channel = on_loop[key] = cls(layer, group)
        return channel

    def __init__(self, layer: Any, group: str) -> None:
        self.layer = layer
        self.group = group
        self.members: set[Subscription] = set()
        self.joined = False
        self._name = ""
        self._joining = asyncio.Lock()
        self._pump: asyncio.Task[None] | None = None
        self._rejoining: asyncio.Task[None] | None = None
        self._refreshed = time.monotonic()

    async def join(self) -> bool:
        """Joined now (at once if it was); False if the layer failed or took longer than
        `JOIN_TIMEOUT`, and it goes on trying in the background."""
        if self.joined:
            return True
        if self._rejoining is not None:  # the layer is failing: no second wait on it
            return False
        try:
            await asyncio.wait_for(self._join(), JOIN_TIMEOUT)
        except Exception as exc:  # TimeoutError, ConnectionError, OSError, ...
            log.warning("feed not subscribed to %s (%r): following the database", self.group, exc)
            self.rejoin_later()
            return False
        return True

    async def _join(self) -> None:
        async with self._joining:
            if self.joined:
                return
            if not self._name:
                self._name = await self.layer.new_channel("sse.")
                self._pump = asyncio.create_task(self._pump_messages())
            await self.layer.group_add(self.group, self._name)
            self.joined = True

    def rejoin_later(self) -> None:
        if self._rejoining is None and not self.joined:
            self._rejoining = asyncio.create_task(self._rejoin())

    async def _rejoin(self) -> None:
        delay = REJOIN_FIRST_SECONDS
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, REJOIN_MAX_SECONDS)
            if await _layer_answers(self.layer):
                with suppress(Exception):
                    await asyncio.wait_for(self._join(), JOIN_TIMEOUT)
                if self.joined:
                    break
        self._rejoining = None
        for member in list(self.members):  # what was published meanwhile is in the database
            member.wake_lost()

    async def refresh(self) -> None:
        if not self.joined or time.monotonic() - self._refreshed < GROUP_REFRESH_SECONDS:
            return
        self._refreshed = time.monotonic()
        with suppress(Exception):
            await asyncio.wait_for(self.layer.group_add(self.group, self._name), JOIN_TIMEOUT)

    def detach(self, member: Subscription) -> None:
        """`member` is done; the last one out closes the channel and leaves the group."""
        self.members.discard(member)
        if self.members:
            return
        on_loop = self._open.get(asyncio.get_running_loop(), {})
        if on_loop.get((id(self.layer), self.group)) is self:
            del on_loop[(id(self.layer), self.group)]
        for task in (self._rejoining, self._pump):
            if task is not None:
                task.cancel()
        if self.joined:
            _leave_later(self.layer, self._name, self.group)
        self.joined = False

    async def _pump_messages(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self._name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("channel receive failed; re-reading the database", exc_info=True)
                for member in list(self.members):
                    member.lost = True
                await asyncio.sleep(1)
                continue
            events = message["events"] if message.get("type") == ENVELOPE else [message]
            for member in list(self.members):
                for event in events:
                    member.deliver(event)


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


def _leave_later(layer: Any, channel: str, group: str) -> None:
    """Leave the group in the background: a feed's end must not wait on a layer that hangs."""

    async def leave() -> None:
        with suppress(Exception):
            await asyncio.wait_for(layer.group_discard(group, channel), JOIN_TIMEOUT)

    task = asyncio.create_task(leave())
    _leaving.add(task)
    task.add_done_callback(_leaving.discard)
