"""GET /api/projects/<p>/tasks: the envelope the UI pages through, filters, query count."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects import storage
from projects.models import Project
from runs.models import Attempt, Run, RunStatus
from tasks.models import Task
from tasks.services import task_done_record
from tests.helpers import assert_error
from tests.projects.builders import assert_rfc3339_utc, make_run, make_task

ITEM_KEYS = {
    "id",
    "task_id",
    "project_id",
    "status",
    "last_activity",
    "created_at",
    "queue_position",
    "depends_on",
    "blocked_by",
    "thread_parent",
    "run_count",
    "run_counts",
    "done",
    "last_run_status",
    "last_run_exit_code",
}


def tasks(api: APIClient, **params: Any) -> Any:
    return api.get("/api/projects/demo/tasks", params)


def waiting(task: Task) -> Run:
    """An attempt the planner has not admitted, with its queued agent run."""
    attempt = Attempt.objects.create(task=task, agent="shell")
    return make_run(task, RunStatus.QUEUED, attempt=attempt)


@pytest.fixture
def every_status(db: None, project: Project) -> dict[str, Task]:
    """One task per status, created in this order (the list is newest first)."""
    made = {
        "idle": make_task(project, "s-idle"),
        "completed": make_task(project, "s-completed"),
        "failed": make_task(project, "s-failed"),
        "running": make_task(project, "s-running"),
        "queued": make_task(project, "s-queued"),
        "blocked": make_task(project, "s-blocked", depends_on=["s-running"]),
        "stopped": make_task(project, "s-stopped"),
    }
    make_run(made["completed"], age=timedelta(minutes=5))
    make_run(made["completed"])
    make_run(made["failed"], RunStatus.FAILED, exit_code=3)
    make_run(made["running"], RunStatus.RUNNING)
    waiting(made["queued"])
    waiting(made["blocked"])
    make_run(made["stopped"], RunStatus.STOPPED, exit_code=-15)
    (storage.task_dir("demo", "s-completed") / "DONE").touch()
    task_done_record(made["completed"])  # what the worker does once the run ended
    return made


def test_the_envelope_and_every_item_field(api: APIClient, every_status: dict[str, Task]) -> None:
    response = tasks(api)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"items", "total", "limit", "offset", "has_more"}
    assert (body["total"], body["limit"], body["offset"], body["has_more"]) == (7, 50, 0, False)
    items = {item["id"]: item for item in body["items"]}
    for item in items.values():
        assert set(item) == ITEM_KEYS
        assert item["project_id"] == "demo"
        assert_rfc3339_utc(item["last_activity"])
        assert_rfc3339_utc(item["created_at"])
    completed = items["s-completed"]
    assert (completed["status"], completed["run_count"], completed["done"]) == (
        "completed",
        2,
        True,
    )
    assert completed["run_counts"] == {"completed": 2}
    assert (completed["last_run_status"], completed["last_run_exit_code"]) == ("completed", 0)
    assert (items["s-failed"]["status"], items["s-failed"]["last_run_exit_code"]) == ("failed", 3)
    assert items["s-running"]["status"] == "running"
    assert items["s-running"]["last_run_exit_code"] is None
    assert (items["s-queued"]["status"], items["s-queued"]["queue_position"]) == ("queued", 1)
    blocked = items["s-blocked"]
    assert (blocked["status"], blocked["blocked_by"], blocked["depends_on"]) == (
        "blocked",
        ["s-running"],
        ["s-running"],
    )
    assert items["s-stopped"]["status"] == "idle"
    idle = items["s-idle"]
    assert (idle["status"], idle["run_count"], idle["run_counts"]) == ("idle", 0, {})
    assert (idle["last_run_status"], idle["last_run_exit_code"], idle["done"]) == (
        None,
        None,
        False,
    )
    assert idle["thread_parent"] is None and idle["queue_position"] == 0


def test_tasks_are_newest_first(api: APIClient, every_status: dict[str, Task]) -> None:
    ids = [item["id"] for item in tasks(api).json()["items"]]

    assert ids == [task.task_id for task in reversed(every_status.values())]


def test_statuses_match_the_v1_task_detail(api: APIClient, every_status: dict[str, Task]) -> None:
    for item in tasks(api).json()["items"]:
        v1 = api.get(f"/api/v1/tasks/{item['id']}", {"project_id": "demo"}).json()
        assert item["status"] == v1["status"], item["id"]
        assert item["queue_position"] == v1["queue_position"], item["id"]
        assert item["blocked_by"] == v1["blocked_by"], item["id"]


def test_a_loop_task_without_done_is_idle_after_success(
    db: None, api: APIClient, project: Project
) -> None:
    task = make_task(project, "s-loop", config={"loop": {"max_iterations": 3}})
    make_run(task)

    item = tasks(api).json()["items"][0]

    assert (item["id"], item["status"]) == ("s-loop", "idle")


def test_thread_parent_is_the_object(db: None, api: APIClient, project: Project) -> None:
    parent = {"project_id": "demo", "task_id": "p", "run_id": "run-1", "message_id": "MSG-1"}
    make_task(project, "s-child", thread_parent=parent)

    assert tasks(api).json()["items"][0]["thread_parent"] == parent


def test_paging_with_limit_and_offset(db: None, api: APIClient, project: Project) -> None:
    for n in range(5):
        make_task(project, f"page-{n}")

    first = tasks(api, limit=2).json()
    last = tasks(api, limit=2, offset=4).json()
    beyond = tasks(api, limit=2, offset=9).json()

    assert [i["id"] for i in first["items"]] == ["page-4", "page-3"]
    assert (first["total"], first["limit"], first["has_more"]) == (5, 2, True)
    assert [i["id"] for i in last["items"]] == ["page-0"]
    assert (last["offset"], last["has_more"]) == (4, False)
    assert (beyond["items"], beyond["has_more"]) == ([], False)


def test_a_limit_above_500_is_capped(db: None, api: APIClient, project: Project) -> None:
    assert tasks(api, limit=100000).json()["limit"] == 500


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("running", {"s-running"}),
        ("queued", {"s-queued"}),
        ("blocked", {"s-blocked"}),
        ("active", {"s-running", "s-queued", "s-blocked"}),
        ("completed", {"s-completed"}),
        ("failed", {"s-failed"}),
        ("idle", {"s-idle", "s-stopped"}),
        ("done", {"s-completed"}),
        ("RUNNING", {"s-running"}),
    ],
)
def test_the_status_filter(
    api: APIClient, every_status: dict[str, Task], status: str, expected: set[str]
) -> None:
    body = tasks(api, status=status).json()

    assert {item["id"] for item in body["items"]} == expected
    assert body["total"] == len(expected)


def test_the_status_filter_pages_what_matches(
    api: APIClient, every_status: dict[str, Task]
) -> None:
    body = tasks(api, status="active", limit=2).json()

    assert [i["id"] for i in body["items"]] == ["s-blocked", "s-queued"]
    assert (body["total"], body["has_more"]) == (3, True)


@pytest.mark.parametrize(
    "params",
    [{"status": "weird"}, {"limit": "x"}, {"limit": "0"}, {"offset": "-1"}, {"offset": "1.5"}],
)
def test_invalid_parameters_are_400(
    db: None, api: APIClient, project: Project, params: dict[str, str]
) -> None:
    assert_error(tasks(api, **params), 400, "BAD_REQUEST")


def test_an_unknown_project_is_404(db: None, api: APIClient) -> None:
    assert_error(api.get("/api/projects/nope/tasks"), 404, "NOT_FOUND")


def test_an_invalid_project_id_is_400(db: None, api: APIClient) -> None:
    assert_error(api.get("/api/projects/bad.id/tasks"), 400, "BAD_REQUEST")


def test_a_page_of_50_tasks_costs_a_fixed_number_of_queries(
    db: None, api: APIClient, project: Project, django_assert_max_num_queries: Any
) -> None:
    for n in range(50):
        task = make_task(project, f"many-{n}", depends_on=["many-0"] if n % 7 == 0 else [])
        make_run(task, RunStatus.FAILED if n % 3 else RunStatus.SUCCESS)
        make_run(task, RunStatus.SUCCESS)

    with django_assert_max_num_queries(6):
        body = tasks(api, limit=500).json()
    with django_assert_max_num_queries(6):
        filtered = tasks(api, limit=500, status="completed").json()

    assert len(body["items"]) == 50
    assert all(item["run_count"] == 2 for item in body["items"])
    assert filtered["total"] == 50


def test_a_run_that_ended_without_an_exit_code_reports_minus_one(
    db: None, api: APIClient, project: Project
) -> None:
    run = make_run(make_task(project, "s-never"), RunStatus.FAILED)
    Run.objects.filter(id=run.id).update(exit_code=None)

    item = tasks(api).json()["items"][0]

    assert (item["last_run_status"], item["last_run_exit_code"]) == ("failed", -1)
