"""`publish()` with the channel layer down: one try per cool-down, one warning, never raises."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from pytest_django.fixtures import Settings

from messagebus import publish
from tests.processes import free_port


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
    with caplog.at_level(logging.WARNING, logger="messagebus.publish"):
        for n in range(20):
            publish.publish("run.r1", {"type": "log.chunk", "seq": n})

    warnings = [r for r in caplog.records if r.name == "messagebus.publish"]
    assert len(warnings) == 1
    assert "live events are dropped" in warnings[0].getMessage()
    assert publish._outage.dropped == 19


def test_after_the_cool_down_it_tries_again(
    layer_down: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(publish._Outage, "COOL_DOWN_SECONDS", 0.0)

    with caplog.at_level(logging.WARNING, logger="messagebus.publish"):
        for n in range(3):
            publish.publish("run.r1", {"type": "log.chunk", "seq": n})

    assert publish._outage.dropped == 0  # each one tried
    assert len([r for r in caplog.records if r.name == "messagebus.publish"]) == 1
