"""A JSON body nested too deep is a 400 on every route that reads one, never a 500."""

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
