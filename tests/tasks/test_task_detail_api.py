"""GET /api/v1/tasks/<task_id>?project_id=: the task as a script or the UI reads it."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from projects.models import Project
from runs.models import Run
from tasks.models import Task
from tests.conftest import create_task
from tests.helpers import assert_error
from tests.projects.builders import assert_rfc3339_utc, finished_task

TASK_KEYS = {
    "project_id",
    "task_id",
    "status",
    "queue_position",
    "last_activity",
    "depends_on",
    "blocked_by",
    "thread_parent",
    "done",
    "runs",
}


def detail(api: APIClient, task_id: str = "t1", project_id: str = "demo") -> Any:
    return api.get(f"/api/v1/tasks/{task_id}", {"project_id": project_id})


def test_without_project_id_it_is_400(db: None, api: APIClient, project: Project) -> None:
    Task.objects.create(project=project, task_id="t1", prompt="true", agent_type="shell")

    error = assert_error(api.get("/api/v1/tasks/t1"), 400, "BAD_REQUEST")

    assert "project_id" in error["error"]


def test_an_empty_project_id_is_400(db: None, api: APIClient, project: Project) -> None:
    assert_error(detail(api, project_id=""), 400, "BAD_REQUEST")


def test_an_unknown_task_is_404(db: None, api: APIClient, project: Project) -> None:
    error = assert_error(detail(api, "nope"), 404, "NOT_FOUND")

    assert "nope" in error["error"]


def test_a_task_of_an_unknown_project_is_404(db: None, api: APIClient, project: Project) -> None:
    Task.objects.create(project=project, task_id="t1", prompt="true", agent_type="shell")

    assert_error(detail(api, project_id="other"), 404, "NOT_FOUND")


def test_task_ids_are_case_sensitive(db: None, api: APIClient, project: Project) -> None:
    create_task(api, task_id="Build-1")

    assert detail(api, "Build-1").status_code == 200
    assert_error(detail(api, "BUILD-1"), 404, "NOT_FOUND")
    assert_error(detail(api, "build-1"), 404, "NOT_FOUND")


def test_an_invalid_task_id_in_the_path_is_400(db: None, api: APIClient, project: Project) -> None:
    assert_error(detail(api, "a.b"), 400, "BAD_REQUEST")


def test_a_successful_task_has_the_documented_shape_and_is_completed(
    work: str, api: APIClient, project: Project
) -> None:
    run_id = finished_task(api, "t1", "echo ok", depends_on=[])

    response = detail(api)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == TASK_KEYS
    assert (body["project_id"], body["task_id"]) == ("demo", "t1")
    assert body["status"] == "completed"
    assert body["queue_position"] == 0
    assert body["depends_on"] == []
    assert [run["run_id"] for run in body["runs"]] == [run_id]
    run = body["runs"][0]
    assert (run["project_id"], run["task_id"], run["status"]) == ("demo", "t1", "success")
    assert run["exit_code"] == 0


def test_a_task_whose_run_exits_1_is_failed(work: str, api: APIClient, project: Project) -> None:
    finished_task(api, "t1", "exit 1")

    body = detail(api).json()

    assert body["status"] == "failed"
    assert [(r["status"], r["exit_code"]) for r in body["runs"]] == [("failed", 1)]


def test_runs_are_listed_newest_first(work: str, api: APIClient, project: Project) -> None:
    first = finished_task(api, "t1", "exit 1")
    second = finished_task(api, "t1", "echo again", attach_mode="attach")

    body = detail(api).json()

    assert [run["run_id"] for run in body["runs"]] == [second, first]
    assert body["status"] == "completed", "the latest run decides the status"


def test_only_agent_runs_are_listed(work: str, api: APIClient, project: Project) -> None:
    project.setup_script = "echo setting up"
    project.cleanup_script = "echo cleaning up"
    project.save()
    run_id = finished_task(api, "t1", "echo agent")
    attempt_id = Run.objects.get(id=run_id).attempt_id
    kinds = set(Run.objects.filter(attempt_id=attempt_id).values_list("kind", flat=True))
    assert kinds == {"setup", "agent", "cleanup"}

    body = detail(api).json()

    assert [run["run_id"] for run in body["runs"]] == [run_id]
    assert body["runs"][0]["kind"] == "agent"


def test_timestamps_are_rfc3339_in_utc_ending_in_z(
    work: str, api: APIClient, project: Project
) -> None:
    finished_task(api, "t1", "echo ok")

    body = detail(api).json()

    run = body["runs"][0]
    start = assert_rfc3339_utc(run["start_time"])
    end = assert_rfc3339_utc(run["end_time"])
    last_activity = assert_rfc3339_utc(body["last_activity"])
    assert start <= end <= last_activity


def test_depends_on_is_echoed(db: None, api: APIClient, project: Project) -> None:
    create_task(api, task_id="base")
    create_task(api, task_id="t1", depends_on=["base"])

    assert detail(api).json()["depends_on"] == ["base"]
