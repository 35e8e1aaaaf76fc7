"""The `publish()` seam: on the server's loop once it runs, never waiting on it before; with
the channel layer down, one try per cool-down and one warning, never raising; a publish's
events for one group in as few layer messages as it takes, unpacked for subscribers."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import get_channel_layer
from pytest_django.fixtures import Settings

from conductor_site.live import publish, subscription
from conductor_site.live.events import ENVELOPE
from conductor_site.live.subscription import Subscription
from tests.conftest import wait_for
from tests.helpers import log_chunk_event
from tests.processes import free_port


@pytest.fixture
def server_loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[asyncio.AbstractEventLoop]:
    """A loop handed over as the server's (`set_loop`), not running yet; the seam's state is
    put back afterwards."""
    monkeypatch.setattr(publish, "_loop", None)
    monkeypatch.setattr(publish, "_server_loop", False, raising=False)
    loop = asyncio.new_event_loop()
    publish.set_loop(loop)
    yield loop
    if loop.is_running():
        loop.call_soon_threadsafe(loop.stop)
        wait_for(lambda: not loop.is_running(), 10, "the loop to stop")
    loop.close()


def test_before_the_server_loop_runs_a_publish_returns_at_once_and_is_dropped(
    server_loop: asyncio.AbstractEventLoop,
) -> None:
    layer = get_channel_layer()
    channel = server_loop.run_until_complete(layer.new_channel())
    server_loop.run_until_complete(layer.group_add("g", channel))
    publisher = threading.Thread(target=publish.publish, args=([("g", log_chunk_event("r1", 1))],))

    publisher.start()

    # Well within one publish timeout (10 s): recovery at start publishes once per run.
    wait_for(lambda: not publisher.is_alive(), publish._TIMEOUT / 2, "publish to return")
    server_loop.run_until_complete(asyncio.sleep(0.05))
    assert layer.channels.get(channel) is None or layer.channels[channel].empty()


def test_once_the_server_loop_runs_a_publish_is_delivered(
    server_loop: asyncio.AbstractEventLoop,
) -> None:
    layer = get_channel_layer()
    channel = server_loop.run_until_complete(layer.new_channel())
    server_loop.run_until_complete(layer.group_add("g", channel))
    threading.Thread(target=server_loop.run_forever, daemon=True).start()
    wait_for(server_loop.is_running, 10, "the loop to run")

    publish.publish([("g", log_chunk_event("r1", 1))])

    received = asyncio.run_coroutine_threadsafe(layer.receive(channel), server_loop)
    assert received.result(10) == log_chunk_event("r1", 1)


@pytest.fixture
def layer_down(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The Redis channel layer on a port where nothing listens; a fresh outage record."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    backend = "channels_redis.pubsub.RedisPubSubChannelLayer"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend, "CONFIG": {"hosts": [url]}}}
    monkeypatch.setattr(publish, "_outage", publish._Outage())
    yield


def test_a_down_layer_is_tried_once_per_cool_down_and_warned_about_once(
    layer_down: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="conductor_site.live.publish"):
        for n in range(20):
            publish.publish([("run.r1", log_chunk_event("r1", n))])

    warnings = [r for r in caplog.records if r.name == "conductor_site.live.publish"]
    assert len(warnings) == 1
    assert "live events are dropped" in warnings[0].getMessage()
    assert publish._outage.dropped == 19


def test_after_the_cool_down_it_tries_again(
    layer_down: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(publish._Outage, "COOL_DOWN_SECONDS", 0.0)

    with caplog.at_level(logging.WARNING, logger="conductor_site.live.publish"):
        for n in range(3):
            publish.publish([("run.r1", log_chunk_event("r1", n))])

    assert publish._outage.dropped == 0  # each one tried
    assert len([r for r in caplog.records if r.name == "conductor_site.live.publish"]) == 1


def test_publish_soon_returns_at_once_and_its_events_leave_in_the_order_of_the_calls(
    server_loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = get_channel_layer()
    channel = server_loop.run_until_complete(layer.new_channel())
    server_loop.run_until_complete(layer.group_add("g", channel))
    first_held = threading.Event()
    send_all = publish._send_all

    async def first_one_slow(batch: list[tuple[str, Any]]) -> None:
        if batch[0][1]["seq"] == 0:  # the first send waits until all three calls returned
            await asyncio.get_running_loop().run_in_executor(None, first_held.wait, 10)
        await send_all(batch)

    monkeypatch.setattr(publish, "_send_all", first_one_slow)
    threading.Thread(target=server_loop.run_forever, daemon=True).start()
    wait_for(server_loop.is_running, 10, "the loop to run")

    for seq in range(3):
        publish.publish_soon([("g", log_chunk_event("r1", seq))])
    first_held.set()

    received = [
        asyncio.run_coroutine_threadsafe(layer.receive(channel), server_loop).result(10)
        for _ in range(3)
    ]
    assert [event["seq"] for event in received] == [0, 1, 2]


def test_a_publish_is_one_layer_message_per_group_and_subscribers_get_every_event_in_order(
    server_loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Redis each layer message is a PUBLISH awaited in turn: a batch of 250 events for
    one group is 3 (envelopes of up to `ENVELOPE_MAX`), a lone event itself."""
    layer = get_channel_layer()
    sent: list[tuple[str, str]] = []
    group_send = layer.group_send

    async def counted(group: str, message: dict[str, Any]) -> None:
        sent.append((group, message["type"]))
        await group_send(group, message)

    monkeypatch.setattr(layer, "group_send", counted)
    threading.Thread(target=server_loop.run_forever, daemon=True).start()
    wait_for(server_loop.is_running, 10, "the loop to run")

    def on_loop(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, server_loop).result(10)

    async def subscribed() -> Subscription:
        return await Subscription(["g"]).__aenter__()

    viewer = on_loop(subscribed())
    publish.publish(
        [("g", log_chunk_event("r1", n)) for n in range(250)] + [("h", log_chunk_event("r2", 0))]
    )

    received: list[Any] = []
    while len(received) < 250:
        received += on_loop(viewer.receive(5)) or []
    assert [event["seq"] for event in received] == list(range(250))
    assert sent == [("g", ENVELOPE)] * 3 + [("h", "log.chunk")]
    on_loop(viewer.__aexit__(None, None, None))

    async def left() -> None:  # the group is left in the background, on this loop
        await asyncio.gather(*subscription._leaving)

    on_loop(left())
