"""Lists in a task or message body are bounded: a long one is a 400, before it costs anything."""

from __future__ import annotations

from rest_framework.test import APIClient

from messagebus.api import PARENTS_MAX
from messagebus.models import Message
from projects.models import Project
from tasks.api import DEPENDS_ON_MAX
from tasks.models import Task
from tests.helpers import assert_error

TASK = {"project_id": "demo", "task_id": "t1", "agent_type": "shell", "prompt": "true"}


def test_depends_on_past_the_bound_is_a_400(db: None, api: APIClient) -> None:
    deps = [f"d{n}" for n in range(DEPENDS_ON_MAX + 1)]

    body = assert_error(
        api.post("/api/v1/tasks", {**TASK, "depends_on": deps}, format="json"), 400, "BAD_REQUEST"
    )

    assert body["error"].startswith("depends_on: Ensure this field has no more than 100")
    assert not Task.objects.exists() and not Project.objects.exists()


def test_depends_on_at_the_bound_is_accepted(db: None, api: APIClient) -> None:
    deps = [f"d{n}" for n in range(DEPENDS_ON_MAX)]

    response = api.post("/api/v1/tasks", {**TASK, "depends_on": deps}, format="json")

    assert response.status_code == 201, response.content
    assert Task.objects.get(task_id="t1").depends_on == deps


def test_parents_past_the_bound_is_a_400(db: None, api: APIClient) -> None:
    message = {"project_id": "demo", "type": "FACT", "body": "x"}
    parents = ["MSG-x"] * (PARENTS_MAX + 1)

    body = assert_error(
        api.post("/api/v1/messages", {**message, "parents": parents}, format="json"),
        400,
        "BAD_REQUEST",
    )

    assert body["error"].startswith("parents: Ensure this field has no more than 100")
    assert not Message.objects.exists()
