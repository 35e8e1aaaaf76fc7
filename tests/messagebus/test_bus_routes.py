"""`/api/projects/<p>/messages` and `/api/projects/<p>/tasks/<t>/messages`: what the real UI
and the `run-agent server bus` CLI call (`?limit=&since=`, `{type?, body}`)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from messagebus.models import Message
from messagebus.selectors import message_to_api
from messagebus.services import message_append
from projects.models import Project
from tasks.models import Task
from tests.helpers import assert_error

PROJECT = "/api/projects/demo/messages"
TASK = "/api/projects/demo/tasks/t1/messages"


def bodies(api: APIClient, url: str) -> list[str]:
    response = api.get(url)
    assert response.status_code == 200, response.content
    return [item["body"] for item in response.json()["messages"]]


@pytest.mark.parametrize("url", [PROJECT, TASK])
def test_post_answers_201_and_the_list_shows_it(api: APIClient, t1: Task, url: str) -> None:
    response = api.post(url, {"type": "DECISION", "body": "approach B"}, format="json")

    assert response.status_code == 201, response.content
    assert set(response.json()) == {"msg_id", "timestamp"}
    items = api.get(url).json()["messages"]
    assert [(i["msg_id"], i["type"], i["body"]) for i in items] == [
        (response.json()["msg_id"], "DECISION", "approach B")
    ]
    assert items[0]["timestamp"] == items[0]["ts"] == response.json()["timestamp"]


@pytest.mark.parametrize(("url", "task_id"), [(PROJECT, None), (TASK, "t1")])
def test_the_type_defaults_to_user(api: APIClient, t1: Task, url: str, task_id: Any) -> None:
    assert api.post(url, {"body": "hi"}, format="json").status_code == 201

    item = message_to_api(Message.objects.get())
    assert (item["type"], item["task_id"]) == ("USER", task_id)


def test_the_project_list_merges_its_task_buses(api: APIClient, t1: Task) -> None:
    message_append(project_id="demo", body="p")
    message_append(project_id="demo", task_id="t1", body="t")

    assert bodies(api, PROJECT) == ["p", "t"]
    assert bodies(api, TASK) == ["t"]


def test_since_is_exclusive_and_limit_keeps_the_last_n(api: APIClient, t1: Task) -> None:
    ids = [message_append(project_id="demo", task_id="t1", body=str(n)).msg_id for n in range(5)]

    assert bodies(api, f"{TASK}?since={ids[1]}") == ["2", "3", "4"]
    assert bodies(api, f"{TASK}?limit=2") == ["3", "4"]
    assert bodies(api, f"{TASK}?limit=500&since={ids[0]}") == ["1", "2", "3", "4"]
    assert bodies(api, f"{PROJECT}?since={ids[4]}") == []
    assert bodies(api, f"{PROJECT}?after={ids[3]}") == ["4"]


@pytest.mark.parametrize("url", [PROJECT, TASK])
def test_an_unknown_since_is_404_message_id_not_found(api: APIClient, t1: Task, url: str) -> None:
    body = assert_error(api.get(f"{url}?limit=500&since=MSG-gone"), 404, "NOT_FOUND")

    assert "message id not found" in body["error"].lower()


@pytest.mark.parametrize(
    ("method", "url", "what"),
    [
        ("get", "/api/projects/nope/messages", "project 'nope'"),
        ("get", "/api/projects/demo/tasks/nope/messages", "task 'nope'"),
    ],
)
def test_unknown_project_or_task_is_404(
    api: APIClient, t1: Task, method: str, url: str, what: str
) -> None:
    response = getattr(api, method)(url, {"body": "x"} if method == "post" else None, format="json")

    assert what in assert_error(response, 404, "NOT_FOUND")["error"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/projects/bad%20id/messages",
        "/api/projects/%C3%A9/messages",
        "/api/projects/demo/tasks/t%2E1/messages",
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_invalid_path_ids_are_400(api: APIClient, t1: Task, url: str, method: str) -> None:
    response = getattr(api, method)(url, {"body": "x"} if method == "post" else None, format="json")

    assert_error(response, 400, "BAD_REQUEST")


@pytest.mark.parametrize(
    "body",
    [{}, {"body": ""}, {"body": "  "}, {"body": 3}, {"type": "X" * 65, "body": "x"}, ["x"]],
)
@pytest.mark.parametrize("url", [PROJECT, TASK])
def test_a_bad_body_is_400(api: APIClient, t1: Task, url: str, body: Any) -> None:
    assert_error(api.post(url, body, format="json"), 400, "BAD_REQUEST")
    assert not Message.objects.exists()


@pytest.mark.parametrize("query", ["limit=0", "limit=x", "since=a&after=b"])
def test_bad_list_parameters_are_400(api: APIClient, demo: Project, query: str) -> None:
    assert_error(api.get(f"{PROJECT}?{query}"), 400, "BAD_REQUEST")


def test_other_methods_are_405(api: APIClient, t1: Task) -> None:
    assert_error(api.delete(PROJECT), 405, "METHOD_NOT_ALLOWED")
    assert_error(api.put(TASK, {}, format="json"), 405, "METHOD_NOT_ALLOWED")
