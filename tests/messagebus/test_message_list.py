"""GET /api/v1/messages: the merged project view, one task's bus, and the `after` cursor."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from messagebus.services import message_append
from projects.models import Project
from tasks.models import Task
from tests.helpers import assert_error
from tests.messagebus.conftest import make_task

ITEM_FIELDS = {
    "msg_id",
    "timestamp",
    "ts",
    "type",
    "project_id",
    "task_id",
    "run_id",
    "parents",
    "meta",
    "body",
}


@pytest.fixture
def mixed(t1: Task) -> list[str]:
    """Bodies p0, a0, b0, p1, a1, b1: the project bus and two task buses interleaved."""
    make_task(t1.project, "t2")
    for n in range(2):
        message_append(project_id="demo", body=f"p{n}")
        message_append(project_id="demo", task_id="t1", body=f"a{n}")
        message_append(project_id="demo", task_id="t2", body=f"b{n}")
    return ["p0", "a0", "b0", "p1", "a1", "b1"]


def listed(api: APIClient, query: str) -> list[dict[str, Any]]:
    response = api.get(f"/api/v1/messages?{query}")
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"messages"}
    return list(response.json()["messages"])


def test_without_task_id_every_bus_of_the_project_merged_in_msg_id_order(
    api: APIClient, mixed: list[str]
) -> None:
    items = listed(api, "project_id=demo")

    assert [item["body"] for item in items] == mixed
    ids = [item["msg_id"] for item in items]
    assert ids == sorted(ids)
    assert [item["task_id"] for item in items] == [None, "t1", "t2"] * 2
    assert all(set(item) == ITEM_FIELDS for item in items)


def test_with_task_id_only_that_tasks_bus(api: APIClient, mixed: list[str]) -> None:
    items = listed(api, "project_id=demo&task_id=t2")

    assert [item["body"] for item in items] == ["b0", "b1"]


def test_after_is_exclusive_and_polls_see_each_message_once(
    api: APIClient, mixed: list[str]
) -> None:
    first = listed(api, "project_id=demo")
    cursor = first[2]["msg_id"]

    assert [i["body"] for i in listed(api, f"project_id=demo&after={cursor}")] == mixed[3:]
    assert listed(api, f"project_id=demo&after={first[-1]['msg_id']}") == []
    message_append(project_id="demo", body="new")
    assert [i["body"] for i in listed(api, f"project_id=demo&after={first[-1]['msg_id']}")] == [
        "new"
    ]


def test_a_cursor_from_another_bus_of_the_project_still_counts(
    api: APIClient, mixed: list[str]
) -> None:
    every = listed(api, "project_id=demo")
    cursor = every[1]["msg_id"]  # a0, on t1's bus

    assert [i["body"] for i in listed(api, f"project_id=demo&task_id=t2&after={cursor}")] == [
        "b0",
        "b1",
    ]


def test_limit_keeps_the_last_n_oldest_first(api: APIClient, mixed: list[str]) -> None:
    cursor = listed(api, "project_id=demo")[0]["msg_id"]

    assert [i["body"] for i in listed(api, "project_id=demo&limit=2")] == ["a1", "b1"]
    assert [i["body"] for i in listed(api, f"project_id=demo&after={cursor}&limit=10")] == (
        mixed[1:]
    )


def test_an_empty_bus_is_an_empty_list(api: APIClient, demo: Project) -> None:
    assert listed(api, "project_id=demo") == []
    assert listed(api, "project_id=demo&after=") == []


def test_missing_project_id_is_400(api: APIClient, demo: Project) -> None:
    body = assert_error(api.get("/api/v1/messages"), 400, "BAD_REQUEST")
    assert "project_id" in body["error"]
    assert_error(api.get("/api/v1/messages?project_id="), 400, "BAD_REQUEST")


def test_an_unknown_cursor_is_404_message_id_not_found(api: APIClient, mixed: list[str]) -> None:
    body = assert_error(api.get("/api/v1/messages?project_id=demo&after=msg_123"), 404, "NOT_FOUND")

    assert "message id not found" in body["error"]
    assert body["details"] == {"msg_id": "msg_123"}


def test_a_cursor_of_another_project_is_unknown_here(api: APIClient, mixed: list[str]) -> None:
    Project.objects.create(id="other")
    cursor = message_append(project_id="other").msg_id

    response = api.get(f"/api/v1/messages?project_id=demo&after={cursor}")

    assert "message id not found" in assert_error(response, 404, "NOT_FOUND")["error"]


@pytest.mark.parametrize(
    ("query", "what"),
    [("project_id=nope", "project 'nope'"), ("project_id=demo&task_id=nope", "task 'nope'")],
)
def test_unknown_project_or_task_is_404(
    api: APIClient, demo: Project, query: str, what: str
) -> None:
    body = assert_error(api.get(f"/api/v1/messages?{query}"), 404, "NOT_FOUND")
    assert what in body["error"]


@pytest.mark.parametrize(
    "query",
    [
        "project_id=bad%20id",
        "project_id=demo&task_id=t/1",
        "project_id=%C3%A9",
        "project_id=demo&limit=0",
        "project_id=demo&limit=-1",
        "project_id=demo&limit=ten",
        f"project_id=demo&limit={2**63}",  # too large for the database: was a 500
        "project_id=demo&after=a&since=b",
    ],
)
def test_invalid_parameters_are_400(api: APIClient, demo: Project, query: str) -> None:
    assert_error(api.get(f"/api/v1/messages?{query}"), 400, "BAD_REQUEST")
