"""A JSON body nested too deep or holding a NUL, or a URL holding one, is a 400 on every route,
never a 500 (PostgreSQL stores no NUL: under `-m production` these run against it)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from conductor_site.parsers import JSON_DEPTH_MAX
from projects.models import Project
from tasks.models import Task
from tests.helpers import assert_error

# Every operation that takes a JSON body (the schema's `requestBody`s).
BODY_ROUTES = [
    "/api/projects",
    "/api/projects/demo/messages",
    "/api/projects/demo/tasks/t1/messages",
    "/api/v1/admin/self-update",
    "/api/v1/messages",
    "/api/v1/tasks",
]
# Far past the recursion limit, and just under it (parses, then fails deeper in the stack).
DEPTHS = [100_000, 950]


def nested_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_object(depth: int) -> str:
    return '{"config":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("shape", [nested_array, nested_object])
def test_a_deeply_nested_body_is_a_400(
    db: None, api: APIClient, path: str, depth: int, shape: object
) -> None:
    body = shape(depth)  # type: ignore[operator]

    response = api.post(path, body, content_type="application/json")

    error = assert_error(response, 400, "BAD_REQUEST")
    assert f"nested deeper than {JSON_DEPTH_MAX} levels" in error["error"]
    assert not Project.objects.exists()


def test_a_config_nested_to_the_bound_is_accepted(db: None, api: APIClient) -> None:
    config = '{"a":' * (JSON_DEPTH_MAX - 2) + "1" + "}" * (JSON_DEPTH_MAX - 2)
    body = (
        '{"project_id":"demo","task_id":"t1","agent_type":"shell","prompt":"true",'
        f'"config":{config}}}'
    )

    response = api.post("/api/v1/tasks", body, content_type="application/json")

    assert response.status_code == 201, response.content
    assert Task.objects.get(task_id="t1").config["a"]["a"]["a"]


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize(
    "body",
    [
        '{"project_id": "demo", "meta": {"k": "a\\u0000b"}}',
        '{"project_id": "demo", "config": {"a\\u0000": 1}}',
        '{"project_id": "demo", "body": ["x", ["\\u0000"]]}',
    ],
)
def test_a_nul_anywhere_in_a_body_is_a_400(db: None, api: APIClient, path: str, body: str) -> None:
    response = api.post(path, body, content_type="application/json")

    error = assert_error(response, 400, "BAD_REQUEST")
    assert "NUL" in error["error"]
    assert not Project.objects.exists()


def test_a_nul_in_a_message_meta_or_a_task_config_is_a_400(db: None, api: APIClient) -> None:
    """The bodies that reached the database (the rest stopped at a serializer field)."""
    message = {"project_id": "demo", "type": "FACT", "body": "ok", "meta": {"k": "a\u0000"}}
    task = {"project_id": "demo", "task_id": "t1", "agent_type": "shell", "prompt": "true"}

    assert_error(api.post("/api/v1/messages", message, format="json"), 400, "BAD_REQUEST")
    task_body = {**task, "config": {"note": "\u0000"}}
    assert_error(api.post("/api/v1/tasks", task_body, format="json"), 400, "BAD_REQUEST")
    assert not Project.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/messages?project_id=demo&after=%00",
        "/api/v1/messages?project_id=demo&since=a%00b",
        "/api/projects/demo/messages?after=%00",
        "/api/projects/demo/tasks?search=%00",
        "/api/v1/runs/%00",
        "/api/projects/de%00mo",
    ],
)
def test_a_nul_in_the_url_is_a_400(db: None, api: APIClient, url: str) -> None:
    Project.objects.create(id="demo")

    error = assert_error(api.get(url), 400, "BAD_REQUEST")

    assert "NUL" in error["error"]
