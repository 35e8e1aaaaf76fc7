"""The `publish()` seam: on the server's loop once it runs; never waiting on it before."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from channels.layers import get_channel_layer

from messagebus import publish
from tests.conftest import wait_for


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
    publisher = threading.Thread(target=publish.publish, args=("g", {"type": "x"}))

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

    publish.publish("g", {"type": "x", "n": 1})

    received = asyncio.run_coroutine_threadsafe(layer.receive(channel), server_loop)
    assert received.result(10) == {"type": "x", "n": 1}
