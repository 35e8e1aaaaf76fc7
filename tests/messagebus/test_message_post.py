"""POST /api/v1/messages: 201 `{msg_id, timestamp}`, and every way a post is refused."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from messagebus.models import Message
from projects.models import Project
from runs.models import Run
from tasks.models import Task
from tests.helpers import assert_error


def post(api: APIClient, body: Any) -> Any:
    return api.post("/api/v1/messages", body, format="json")


def only_item(api: APIClient, query: str = "project_id=demo") -> dict[str, Any]:
    items = api.get(f"/api/v1/messages?{query}").json()["messages"]
    assert len(items) == 1
    return dict(items[0])


def test_it_answers_201_with_the_id_and_time(api: APIClient, demo: Project) -> None:
    response = post(api, {"project_id": "demo", "body": "hello"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"msg_id", "timestamp"}
    assert body["timestamp"].endswith("Z")
    item = only_item(api)
    assert (item["msg_id"], item["timestamp"], item["ts"]) == (
        body["msg_id"],
        body["timestamp"],
        body["timestamp"],
    )
    assert (item["type"], item["body"], item["task_id"]) == ("USER", "hello", None)


def test_every_field_round_trips(api: APIClient, run_of_t1: Run) -> None:
    parent = post(api, {"project_id": "demo", "type": "QUESTION", "body": "db?"}).json()
    response = post(
        api,
        {
            "project_id": "demo",
            "task_id": "t1",
            "run_id": run_of_t1.id,
            "type": "task_start",
            "body": "  Task started\n",
            "parents": [parent["msg_id"]],
            "meta": {"attempt": 2, "thread_parent_task_id": "t0", "ok": False},
        },
    )

    assert response.status_code == 201, response.content
    item = only_item(api, "project_id=demo&task_id=t1")
    assert item["msg_id"] == response.json()["msg_id"]
    assert (item["project_id"], item["task_id"], item["run_id"]) == ("demo", "t1", run_of_t1.id)
    assert (item["type"], item["body"]) == ("task_start", "  Task started\n")
    assert item["parents"] == [parent["msg_id"]]
    assert item["meta"] == {"attempt": "2", "thread_parent_task_id": "t0", "ok": "false"}


@pytest.mark.parametrize("type_", [None, "", "  "])
def test_a_blank_type_is_user(api: APIClient, demo: Project, type_: str | None) -> None:
    assert post(api, {"project_id": "demo", "type": type_, "body": "x"}).status_code == 201
    assert only_item(api)["type"] == "USER"


@pytest.mark.parametrize("type_", ["FACT", "child_request", "INFO", "X" * 64])
def test_types_are_free_form(api: APIClient, demo: Project, type_: str) -> None:
    assert post(api, {"project_id": "demo", "type": type_, "body": "x"}).status_code == 201
    assert only_item(api)["type"] == type_


@pytest.mark.parametrize("task_id", [None, ""])
def test_a_null_or_empty_task_id_posts_to_the_project_bus(
    api: APIClient, t1: Task, task_id: str | None
) -> None:
    assert post(api, {"project_id": "demo", "task_id": task_id, "body": "x"}).status_code == 201
    assert only_item(api)["task_id"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": "x"}, "project_id"),
        ({"project_id": "demo"}, "body"),
        ({"project_id": "demo", "body": ""}, "body"),
        ({"project_id": "demo", "body": " \n"}, "body"),
        ({"project_id": "demo", "body": None}, "body"),
        ({"project_id": "demo", "body": 5}, "body"),
        ({"project_id": "demo", "body": "x", "type": "X" * 65}, "type"),
        ({"project_id": "demo", "body": "x", "type": 7}, "type"),
        ({"project_id": "bad id", "body": "x"}, "project_id"),
        ({"project_id": "demo", "task_id": "t.1", "body": "x"}, "task_id"),
        ({"project_id": "demo", "run_id": "r/1", "body": "x"}, "run_id"),
        ({"project_id": "demo", "body": "x", "parents": "MSG-1"}, "parents"),
        ({"project_id": "demo", "body": "x", "parents": [1]}, "parents"),
        ({"project_id": "demo", "body": "x", "meta": ["a"]}, "meta"),
    ],
)
def test_invalid_fields_are_400(api: APIClient, demo: Project, body: Any, field: str) -> None:
    error = assert_error(post(api, body), 400, "BAD_REQUEST")

    assert field in error["details"]["fields"]
    assert not Message.objects.exists()


def test_unknown_parents_are_400(api: APIClient, demo: Project) -> None:
    error = assert_error(
        post(api, {"project_id": "demo", "body": "x", "parents": ["MSG-gone"]}), 400, "BAD_REQUEST"
    )
    assert "MSG-gone" in error["error"]


def test_a_run_of_another_task_is_400(api: APIClient, run_of_t1: Run, t1: Task) -> None:
    Task.objects.create(project=t1.project, task_id="t2", prompt="p", agent_type="shell")
    body = {"project_id": "demo", "task_id": "t2", "run_id": run_of_t1.id, "body": "x"}

    assert "does not belong" in assert_error(post(api, body), 400, "BAD_REQUEST")["error"]


def test_an_unknown_project_or_task_gets_its_bus_on_the_first_post(
    api: APIClient, demo: Project
) -> None:
    """As Conductor Loop makes a bus folder: the project has no repository, the task is a
    bus-only row until a task is created with its id."""
    to_project = post(api, {"project_id": "new", "body": "x"})
    to_task = post(api, {"project_id": "demo", "task_id": "later", "body": "y"})

    assert to_project.status_code == 201 and to_task.status_code == 201
    assert Project.objects.get(id="new").project_root == ""
    assert Task.objects.get(project=demo, task_id="later").is_bus_only
    listed = api.get("/api/v1/messages?project_id=demo&task_id=later").json()["messages"]
    assert [m["body"] for m in listed] == ["y"]


@pytest.mark.parametrize("raw", [b'["x"]', b'{"project_id": '])
def test_a_body_that_is_no_json_object_is_400(api: APIClient, demo: Project, raw: bytes) -> None:
    response = api.post("/api/v1/messages", raw, content_type="application/json")
    assert_error(response, 400, "BAD_REQUEST")


def test_other_methods_are_405(api: APIClient, demo: Project) -> None:
    assert_error(api.put("/api/v1/messages", {}, format="json"), 405, "METHOD_NOT_ALLOWED")
    assert_error(api.delete("/api/v1/messages"), 405, "METHOD_NOT_ALLOWED")
