"""`depends_on` never makes a cycle, and a long chain of waiting tasks is no deeper for the
planner than a short one (it followed each link recursively: a RecursionError on every
admission pass, found by schemathesis)."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from projects.models import Project
from tasks import planner
from tasks.models import Task
from tasks.services import attempt_create
from tests.helpers import assert_error

TASK = {"project_id": "demo", "agent_type": "shell", "prompt": "true"}


def create(api: APIClient, task_id: str, depends_on: list[str]) -> Any:
    body = {**TASK, "task_id": task_id, "depends_on": depends_on}
    return api.post("/api/v1/tasks", body, format="json")


def test_a_task_that_depends_on_itself_is_a_400(db: None, api: APIClient) -> None:
    body = assert_error(create(api, "t1", ["t0", "t1"]), 400, "BAD_REQUEST")

    assert body["error"] == "depends_on would make a cycle: t1 → t1"
    assert not Task.objects.exists() and not Project.objects.exists()


def test_a_task_that_would_close_a_cycle_is_a_400(db: None, api: APIClient) -> None:
    assert create(api, "a", ["b"]).status_code == 201  # b does not exist yet: a waits
    assert create(api, "b", ["c"]).status_code == 201

    body = assert_error(create(api, "c", ["x", "a"]), 400, "BAD_REQUEST")

    assert body["error"] == "depends_on would make a cycle: c → a → b → c"
    assert not Task.objects.filter(task_id="c").exists()
    assert create(api, "c", ["x"]).status_code == 201
    assert create(api, "d", ["a", "b", "c"]).status_code == 201  # many waits, no cycle


def test_a_long_chain_of_waiting_tasks_is_admitted_without_recursion(
    db: None, api: APIClient
) -> None:
    project = Project.objects.create(id="demo")
    links = 400
    for n in range(links):
        task = Task.objects.create(
            project=project, task_id=f"t{n}", prompt="true", depends_on=[f"t{n + 1}"]
        )
        attempt_create(task, "shell", "true")

    assert planner.admit() == []  # t399 waits on t400, which does not exist

    detail = api.get("/api/v1/tasks/t0?project_id=demo").json()
    assert (detail["status"], detail["blocked_by"]) == ("blocked", ["t1"])
