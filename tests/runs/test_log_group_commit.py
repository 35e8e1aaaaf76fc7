"""The log writer batches only under load: an idle writer stores and publishes a lone line at
once (no coalescing window to wait out), while a flood still becomes few chunks, because what
arrives during a flush waits for the next one (group commit)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import channel_layers, get_channel_layer
from pytest_django.fixtures import Settings

from conductor_site.live import publish
from conductor_site.live.events import run_group
from projects.models import Project
from runs.logsink import LogWriter
from runs.models import LogChunk, Run, RunStatus
from tests.conftest import wait_for
from tests.projects.builders import make_run, make_task

TIMEOUT = 30  # far below the window the writer is given: an hour


@pytest.fixture
def writer(settings: Settings, transactional_db: None) -> LogWriter:
    """A writer whose coalescing window (the retry pace) is an hour: anything it stores within
    the test was stored because work arrived, not because the window ended."""
    settings.CONDUCTOR = {**settings.CONDUCTOR, "LOG_FLUSH_SECONDS": 3600.0}
    return LogWriter()


@pytest.fixture
def run(project: Project) -> Run:
    return make_run(make_task(project, "t1"), RunStatus.RUNNING)


@pytest.fixture
def subscribed(run: Run) -> Iterator[tuple[asyncio.AbstractEventLoop, str]]:
    """A channel in the run's group, on the loop `publish()` sends on."""
    channel_layers.backends.pop("default", None)
    loop = publish._event_loop()
    assert loop is not None
    layer = get_channel_layer()

    async def join() -> str:
        channel = await layer.new_channel()
        await layer.group_add(run_group(run.id), channel)
        return channel

    yield loop, asyncio.run_coroutine_threadsafe(join(), loop).result(TIMEOUT)
    channel_layers.backends.pop("default", None)


def received(subscribed: tuple[asyncio.AbstractEventLoop, str]) -> dict[str, Any]:
    loop, channel = subscribed
    future = asyncio.run_coroutine_threadsafe(get_channel_layer().receive(channel), loop)
    return dict(future.result(TIMEOUT))


def test_an_idle_writer_stores_and_publishes_a_lone_line_at_once(
    writer: LogWriter, run: Run, subscribed: tuple[asyncio.AbstractEventLoop, str]
) -> None:
    writer.open_run(run.id)

    writer.append(run.id, "stdout", "a lone line\n")

    event = received(subscribed)
    assert (event["type"], event["seq"], event["text"]) == ("log.chunk", 1, "a lone line\n")
    assert list(LogChunk.objects.filter(run=run).values_list("seq", "text")) == [
        (1, "a lone line\n")
    ]


def test_a_flood_of_single_lines_becomes_few_chunks_with_contiguous_seq(
    writer: LogWriter, run: Run
) -> None:
    writer.open_run(run.id)
    lines = [f"line {n}\n" for n in range(20_000)]

    def append_each() -> None:
        for text in lines:
            writer.append(run.id, "stdout", text)

    appender = threading.Thread(target=append_each)
    appender.start()
    appender.join(TIMEOUT)
    totals = writer.close_run(run.id, TIMEOUT)

    chunks = list(LogChunk.objects.filter(run=run).order_by("seq").values_list("seq", "text"))
    assert totals.lines == 20_000 and not totals.error
    assert [seq for seq, _ in chunks] == list(range(1, len(chunks) + 1))
    assert "".join(text for _, text in chunks) == "".join(lines)
    assert len(chunks) <= len(lines) / 20, "what arrives during a flush waits for the next"


def test_a_writer_that_stored_a_line_stores_the_next_one_at_once_too(
    writer: LogWriter, run: Run
) -> None:
    writer.open_run(run.id)
    for n in range(1, 4):
        writer.append(run.id, "stdout", f"tick {n}\n")
        stored = LogChunk.objects.filter(run=run, seq=n)
        wait_for(stored.exists, TIMEOUT, f"tick {n} stored")

    assert LogChunk.objects.filter(run=run).count() == 3
