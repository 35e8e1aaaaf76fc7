"""The typed live events: every builder makes exactly the keys its `TypedDict` declares, and
each event comes back equal through JSON and through the channel layer."""

from __future__ import annotations

import asyncio
import json
from typing import Any, get_args, get_type_hints

import pytest
from channels.layers import InMemoryChannelLayer

from conductor_site.live import events
from messagebus.services import bus_events, message_append
from projects.models import Project
from runs.events import attempt_event, run_event
from runs.logsink import chunk_event
from runs.models import LogChunk, Run
from tasks.events import task_event
from tests.projects.builders import make_run, make_task


def built(project: Project) -> list[tuple[type, Any]]:
    task = make_task(project, "t1")
    run = make_run(task, stdout="hello\n")
    message = message_append(project_id="demo", task_id="t1", body="hi")
    chunk = LogChunk.objects.filter(run=run).first()
    assert chunk is not None
    return [
        (events.RunChanged, run_event(Run.objects.get(id=run.id), "updated")),
        (events.LogChunk, chunk_event(chunk)),
        (events.BusMessage, bus_events([message])[0][1]),
        (events.TaskChanged, task_event(task, "moved")),
        (events.AttemptChanged, attempt_event(run.attempt, "started")),
    ]


def test_every_builder_makes_the_keys_its_type_declares(project: Project) -> None:
    for kind, event in built(project):
        keys = set(event)
        assert kind.__required_keys__ <= keys, kind  # type: ignore[attr-defined]
        assert keys <= kind.__required_keys__ | kind.__optional_keys__, kind  # type: ignore[attr-defined]
        assert event["type"] == get_args(get_type_hints(kind)["type"])[0]


def test_every_event_type_is_one_of_the_union() -> None:
    assert {get_args(get_type_hints(k)["type"])[0] for k in get_args(events.LiveEvent)} == {
        "run.changed",
        "log.chunk",
        "bus.message",
        "task.changed",
        "attempt.changed",
        "diff.changed",
        "diff.stored",
    }


def test_events_round_trip_through_json_and_the_channel_layer(project: Project) -> None:
    layer = InMemoryChannelLayer()

    async def through_the_layer(event: Any) -> Any:
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        await layer.group_send("g", event)
        return await layer.receive(channel)

    for _, event in built(project):
        assert json.loads(json.dumps(event)) == event
        assert asyncio.run(through_the_layer(event)) == event


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (events.run_group("r1"), "run.r1"),
        (events.bus_group("p"), "bus.p"),
        (events.bus_group("p", "t"), "bus.p.t"),
        (events.project_group("p"), "project.p"),
        (events.attempt_group("a"), "attempt.a"),
    ],
)
def test_group_names(group: str, expected: str) -> None:
    assert group == expected


def test_long_group_names_are_hashed_below_the_channels_limit() -> None:
    for make in (events.project_group, events.run_group, events.attempt_group):
        name = make("x" * 128)
        assert len(name) < events.GROUP_NAME_LIMIT and ".." in name
        assert name != make("x" * 127 + "y")
