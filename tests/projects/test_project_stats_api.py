"""GET /api/projects/<p>/stats: task and run counts (AMB-5) and message bus totals."""

from __future__ import annotations

from rest_framework.test import APIClient

from projects.models import Project
from runs.models import Run, RunStatus
from tests.helpers import assert_error
from tests.projects.builders import finished_task, make_run, make_task

STATS_KEYS = {
    "project_id",
    "total_tasks",
    "total_runs",
    "running_runs",
    "completed_runs",
    "failed_runs",
    "crashed_runs",
    "message_bus_files",
    "message_bus_total_bytes",
}


def test_a_fresh_project_counts_nothing(db: None, api: APIClient, project: Project) -> None:
    response = api.get("/api/projects/demo/stats")

    assert response.status_code == 200, response.content
    assert response.json() == {key: 0 for key in STATS_KEYS} | {"project_id": "demo"}


def test_runs_by_status_success_is_completed_stopped_and_crashed_are_crashed(
    db: None, api: APIClient, project: Project
) -> None:
    task = make_task(project, "st-1")
    make_task(project, "st-empty")
    for status in [
        RunStatus.SUCCESS,
        RunStatus.SUCCESS,
        RunStatus.FAILED,
        RunStatus.STOPPED,
        RunStatus.CRASHED,
        RunStatus.RUNNING,
        RunStatus.QUEUED,
    ]:
        make_run(task, status)
    make_run(task, kind=Run.Kind.SETUP)

    body = api.get("/api/projects/demo/stats").json()

    assert set(body) == STATS_KEYS
    assert (body["total_tasks"], body["total_runs"], body["running_runs"]) == (2, 7, 1)
    assert (body["completed_runs"], body["failed_runs"], body["crashed_runs"]) == (2, 1, 2)
    counted = body["running_runs"] + body["completed_runs"] + body["failed_runs"]
    assert counted + body["crashed_runs"] <= body["total_runs"]


def test_bus_totals_count_buses_and_bytes(work: str, api: APIClient, project: Project) -> None:
    finished_task(api, "st-bus", "true")
    for path, body in [
        ("/api/projects/demo/messages", "héllo"),
        ("/api/projects/demo/tasks/st-bus/messages", "task note"),
    ]:
        assert api.post(path, {"body": body}, format="json").status_code == 201

    stats = api.get("/api/projects/demo/stats").json()

    assert stats["message_bus_files"] >= 2
    assert stats["message_bus_total_bytes"] >= len("héllo".encode()) + len("task note")


def test_an_unknown_project_is_404_and_an_invalid_id_400(db: None, api: APIClient) -> None:
    assert_error(api.get("/api/projects/nope/stats"), 404, "NOT_FOUND")
    assert_error(api.get("/api/projects/bad.id/stats"), 400, "BAD_REQUEST")
