"""Subscriptions share one channel per group per process (`conductor_site.live.subscription`),
on the real in-memory channel layer: 200 viewers of a run are one member of its group, each
gets every message, one viewer leaving leaves the rest subscribed, the last one out leaves the
group; a viewer held back by its client loses what arrives, the others do not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from channels.layers import channel_layers, get_channel_layer

from conductor_site.live import subscription
from conductor_site.live.subscription import Subscription

GROUP = "run.r-shared"


@pytest.fixture(autouse=True)
def fresh_layer() -> Iterator[None]:
    channel_layers.backends.pop("default", None)
    yield
    channel_layers.backends.pop("default", None)


def members(group: str) -> int:
    return len(get_channel_layer().groups.get(group, {}))


async def received(subscription: Subscription) -> list[object]:
    messages = await subscription.receive(5)
    assert messages is not None, "nothing arrived"
    return list(messages)


def test_many_viewers_of_a_group_are_one_member_of_it() -> None:
    async def session() -> None:
        layer = get_channel_layer()
        viewers = [Subscription([GROUP]) for _ in range(200)]
        for viewer in viewers:
            await viewer.__aenter__()
        assert members(GROUP) == 1

        await layer.group_send(GROUP, {"type": "log.chunk", "seq": 1})
        for viewer in viewers:
            assert await received(viewer) == [{"type": "log.chunk", "seq": 1}]

        await viewers[0].__aexit__(None, None, None)
        await layer.group_send(GROUP, {"type": "log.chunk", "seq": 2})
        for viewer in viewers[1:]:
            assert await received(viewer) == [{"type": "log.chunk", "seq": 2}]
        assert members(GROUP) == 1

        for viewer in viewers[1:]:
            await viewer.__aexit__(None, None, None)
        await asyncio.gather(*subscription._leaving)  # the group is left in the background
        assert members(GROUP) == 0

    asyncio.run(session())


def test_a_held_viewer_loses_what_arrives_and_the_others_do_not() -> None:
    async def session() -> None:
        layer = get_channel_layer()
        async with Subscription([GROUP]) as held, Subscription([GROUP]) as reader:
            held.hold()
            await layer.group_send(GROUP, {"type": "log.chunk", "seq": 1})
            assert await received(reader) == [{"type": "log.chunk", "seq": 1}]
            assert held.take_lost() is True
            held.release()
            assert await received(held) == []  # only woken: it re-reads the database

    asyncio.run(session())


def test_a_viewer_joining_later_gets_what_is_published_from_then_on() -> None:
    async def session() -> None:
        layer = get_channel_layer()
        async with Subscription([GROUP]) as first:
            await layer.group_send(GROUP, {"type": "log.chunk", "seq": 1})
            assert await received(first) == [{"type": "log.chunk", "seq": 1}]
            async with Subscription([GROUP, "run.r-other"]) as second:
                assert members(GROUP) == 1 and members("run.r-other") == 1
                await layer.group_send(GROUP, {"type": "log.chunk", "seq": 2})
                await layer.group_send("run.r-other", {"type": "log.chunk", "seq": 9})
                assert await received(first) == [{"type": "log.chunk", "seq": 2}]
                got = await received(second)
                while len(got) < 2:
                    got += await received(second)
                assert sorted(m["seq"] for m in got) == [2, 9]  # type: ignore[index]
            await asyncio.gather(*subscription._leaving)
            assert (members(GROUP), members("run.r-other")) == (1, 0)

    asyncio.run(session())
