"""Each surface's word for a run's status (docs/api.md, "Vocabulary"): the document's on the
`/api/v1` run objects, the web UI's on the project API, the stored one on the house routes."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from projects.models import Project
from runs.models import Run, RunStatus
from tests.projects.builders import make_run, make_task


@pytest.fixture
def waiting(db: None, project: Project) -> Run:
    """A run that waits for a worker: stored `queued`, the document's `created`."""
    return make_run(make_task(project, "v-wait"), RunStatus.QUEUED)


def test_a_run_waiting_for_a_worker_is_created_on_every_v1_run_object(
    api: APIClient, waiting: Run
) -> None:
    shapes = [
        api.get(f"/api/v1/runs/{waiting.id}/info").json(),
        api.get(f"/api/v1/runs/{waiting.id}").json(),
        api.get("/api/v1/runs").json()["runs"][0],
        api.get("/api/v1/tasks", {"project_id": "demo"}).json()["tasks"][0]["runs"][0],
        api.get("/api/v1/tasks/v-wait", {"project_id": "demo"}).json()["runs"][0],
    ]

    assert [(s["run_id"], s["status"]) for s in shapes] == [(waiting.id, "created")] * 5
    assert all("end_time" not in s and "exit_code" not in s for s in shapes)


def test_the_v1_status_filter_created_finds_every_run_not_started(
    api: APIClient, project: Project, waiting: Run
) -> None:
    planned = make_run(make_task(project, "v-plan"), RunStatus.CREATED)
    make_run(make_task(project, "v-ran"))

    created = api.get("/api/v1/runs", {"status": "created"}).json()["runs"]
    queued = api.get("/api/v1/runs", {"status": "queued"}).json()["runs"]

    assert {r["run_id"] for r in created} == {waiting.id, planned.id}
    assert [r["run_id"] for r in queued] == [waiting.id]


def test_the_project_api_says_queued_and_completed(
    api: APIClient, project: Project, waiting: Run
) -> None:
    done = make_run(make_task(project, "v-done"))
    base = "/api/projects/demo/tasks"

    assert api.get(f"{base}/v-wait").json()["runs"][0]["status"] == "queued"
    assert api.get(f"{base}/v-wait/runs/{waiting.id}").json()["status"] == "queued"
    assert api.get(f"{base}/v-done/runs/{done.id}").json()["status"] == "completed"
    assert api.get(f"{base}/v-done/runs").json()["items"][0]["status"] == "completed"
    flat = {r["id"]: r["status"] for r in api.get("/api/projects/demo/runs/flat").json()["runs"]}
    assert flat == {waiting.id: "queued", done.id: "completed"}
    # The v1 routes keep the document's word for the same run.
    assert api.get(f"/api/v1/runs/{done.id}/info").json()["status"] == "success"


@pytest.mark.parametrize(
    ("stored", "ui"),
    [(RunStatus.CRASHED, "failed"), (RunStatus.STOPPED, "stopped"), (RunStatus.FAILED, "failed")],
)
def test_the_other_ends_in_the_uis_words(
    api: APIClient, project: Project, stored: str, ui: str
) -> None:
    run = make_run(make_task(project, "v-end"), stored)

    detail = api.get(f"/api/projects/demo/tasks/v-end/runs/{run.id}").json()

    assert (detail["status"], api.get(f"/api/v1/runs/{run.id}/info").json()["status"]) == (
        ui,
        stored,
    )


def test_the_attempt_routes_keep_the_stored_status(api: APIClient, waiting: Run) -> None:
    """The house routes tell `queued` (sent to a worker) from `created` (waiting for a slot)."""
    listed = api.get(f"/api/v1/attempts/{waiting.attempt_id}/runs").json()["runs"]

    assert [(r["run_id"], r["status"]) for r in listed] == [(waiting.id, "queued")]
