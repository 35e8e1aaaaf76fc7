"""message_append: ids in append order, what it refuses, and the doorbell it rings."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from messagebus import services
from messagebus.models import Message
from messagebus.selectors import BusNotFound, message_to_api
from messagebus.services import MessageInvalid, bus_group, message_append
from projects.models import Project
from runs.models import Run
from tasks.models import Task
from tests.messagebus.conftest import make_task

MSG_ID = re.compile(r"^MSG-\d{8}-\d{6}-\d{9}-\d{12}\Z")


def test_ids_have_the_documented_shape_and_sort_in_append_order(t1: Task) -> None:
    appended = [
        message_append(project_id="demo", task_id="t1" if n % 2 else None, body=str(n))
        for n in range(12)
    ]

    ids = [m.msg_id for m in appended]
    assert all(MSG_ID.match(msg_id) for msg_id in ids), ids
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    stored = list(Message.objects.order_by("msg_id").values_list("body", flat=True))
    assert stored == [str(n) for n in range(12)]


def test_the_id_carries_the_time_and_the_row_number(demo: Project) -> None:
    message = message_append(project_id="demo", body="hi")

    at = message.created_at
    assert message.msg_id == (
        f"MSG-{at:%Y%m%d-%H%M%S}-{at.microsecond * 1000:09d}-{message.pk:012d}"
    )
    message.refresh_from_db()
    assert message.created_at == at


def test_a_clock_behind_the_last_append_never_sorts_earlier(demo: Project) -> None:
    """Another host whose clock runs an hour ahead appended last: ids still go up."""
    ahead = message_append(project_id="demo", body="from the fast host")
    future = ahead.created_at + timedelta(hours=1)
    Message.objects.filter(pk=ahead.pk).update(
        created_at=future, msg_id=services.format_msg_id(future, ahead.pk)
    )
    ahead.refresh_from_db()

    later = message_append(project_id="demo", body="from this host")

    assert later.msg_id > ahead.msg_id
    assert later.created_at == future


def test_defaults_to_a_user_message_on_the_project_bus(demo: Project) -> None:
    message = message_append(project_id="demo")

    item = message_to_api(message)
    assert (item["type"], item["task_id"], item["run_id"]) == ("USER", None, None)
    assert (item["body"], item["parents"], item["meta"]) == ("", [], {})
    assert item["timestamp"] == item["ts"] and item["timestamp"].endswith("Z")


def test_meta_values_become_strings(demo: Project) -> None:
    meta: Any = {"n": 3, "f": 1.5, "yes": True, "none": None, "s": "x", "obj": {"b": 1, "a": [2]}}

    message = message_append(project_id="demo", meta=meta)

    assert message_to_api(message)["meta"] == {
        "n": "3",
        "f": "1.5",
        "yes": "true",
        "none": "",
        "s": "x",
        "obj": '{"a":[2],"b":1}',
    }


def test_parents_name_messages_of_the_same_project(t1: Task) -> None:
    root = message_append(project_id="demo", type="QUESTION", body="which db?")
    reply = message_append(project_id="demo", task_id="t1", parents=[root.msg_id])

    assert message_to_api(reply)["parents"] == [root.msg_id]
    other = Project.objects.create(id="other")
    with pytest.raises(MessageInvalid, match="not found"):
        message_append(project_id=other.id, parents=[root.msg_id])
    with pytest.raises(MessageInvalid, match="MSG-nope"):
        message_append(project_id="demo", parents=[root.msg_id, "MSG-nope"])


def test_a_run_must_belong_to_the_bus(run_of_t1: Run, t1: Task) -> None:
    on_task = message_append(project_id="demo", task_id="t1", run_id=run_of_t1.id)
    on_project = message_append(project_id="demo", run_id=run_of_t1.id)
    assert on_task.run_id == on_project.run_id == run_of_t1.id

    make_task(t1.project, "t2")
    with pytest.raises(MessageInvalid, match="does not belong to task 't2'"):
        message_append(project_id="demo", task_id="t2", run_id=run_of_t1.id)
    with pytest.raises(MessageInvalid, match="not found"):
        message_append(project_id="demo", run_id="run-missing")


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"type": ""}, "type"),
        ({"type": "X" * 65}, "type"),
        ({"body": 5}, "body"),
        ({"meta": ["a"]}, "meta"),
        ({"parents": "MSG-1"}, "parents"),
    ],
)
def test_bad_fields_are_refused(demo: Project, fields: dict[str, Any], match: str) -> None:
    with pytest.raises(MessageInvalid, match=match):
        message_append(project_id="demo", **fields)
    assert not Message.objects.exists()


def test_unknown_buses_are_refused_unless_the_append_makes_them(demo: Project) -> None:
    with pytest.raises(BusNotFound, match="project 'ghost' not found"):
        message_append(project_id="ghost", task_id="t1")

    message_append(project_id="ghost", task_id="t1", body="hello", make_bus=True)

    task = Task.objects.get(project_id="ghost", task_id="t1")
    assert task.is_bus_only and task.project.project_root == ""
    assert [m.body for m in Message.objects.filter(task=task)] == ["hello"]


def test_the_doorbell_rings_both_groups_after_commit(
    t1: Task, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    sent: list[list[tuple[str, dict[str, Any]]]] = []
    monkeypatch.setattr(services, "publish_many", lambda items: sent.append(list(items)))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = message_append(project_id="demo", task_id="t1", type="FACT", body="4")
    assert sent == []
    for callback in callbacks:
        callback()

    item = message_to_api(message)
    event = {**item, "type": "bus.message", "message": item, "after": None}
    assert sent == [[("bus.demo", event), ("bus.demo.t1", event)]]
    assert event["message"]["type"] == "FACT"


def test_each_doorbell_names_the_message_before_it_on_its_bus(
    t1: Task, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(services, "publish_many", lambda items: sent.extend(items))

    with django_capture_on_commit_callbacks(execute=True):
        first = message_append(project_id="demo", task_id="t1", body="1")
        second = message_append(project_id="demo", body="2")
        third = message_append(project_id="demo", task_id="t1", body="3")

    assert [(group, event["msg_id"], event["after"]) for group, event in sent] == [
        ("bus.demo", first.msg_id, None),
        ("bus.demo.t1", first.msg_id, None),
        ("bus.demo", second.msg_id, first.msg_id),
        ("bus.demo", third.msg_id, second.msg_id),
        ("bus.demo.t1", third.msg_id, first.msg_id),
    ]


def test_a_project_message_rings_the_project_group_only(
    demo: Project, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    sent: list[list[tuple[str, dict[str, Any]]]] = []
    monkeypatch.setattr(services, "publish_many", lambda items: sent.append(list(items)))

    with django_capture_on_commit_callbacks(execute=True):
        message_append(project_id="demo")

    assert [[group for group, _ in items] for items in sent] == [["bus.demo"]]


def test_group_names_stay_valid_for_the_longest_ids() -> None:
    assert bus_group("p") == "bus.p"
    assert bus_group("p", "t") == "bus.p.t"
    long = bus_group("p" * 128, "t" * 128)
    assert long.startswith("bus..") and len(long) < 100
    assert long != bus_group("p" * 128, "t" * 127)
