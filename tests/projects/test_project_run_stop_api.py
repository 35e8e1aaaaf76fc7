"""POST /api/projects/<p>/tasks/<t>/runs/<r>/stop: 202 once asked, 409 when not running."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs.models import RunStatus
from tests.conftest import create_task, log_text, run_finished, wait_for
from tests.helpers import assert_error
from tests.projects.builders import make_run, make_task


def stop(api: APIClient, task_id: str, run_id: str) -> Any:
    return api.post(f"/api/projects/demo/tasks/{task_id}/runs/{run_id}/stop")


def test_stopping_a_running_agent_is_202_and_it_ends_stopped(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile, hang_guard: None
) -> None:
    run_id = create_task(api, task_id="stop-me", agent_type="fake-claude", prompt="hang")["run_id"]
    wait_for(lambda: "hanging" in log_text(run_id), what="the agent to hang")

    response = stop(api, "stop-me", run_id)

    assert response.status_code == 202, response.content
    assert response.json() == {"status": "stopping", "run_id": run_id}
    assert run_finished(run_id).status == RunStatus.STOPPED
    again = stop(api, "stop-me", run_id)
    assert_error(again, 409, "CONFLICT")


def test_a_queued_run_is_stopped_before_it_starts(
    db: None, api: APIClient, project: Project
) -> None:
    run = make_run(make_task(project, "stop-queued"), RunStatus.QUEUED)

    response = stop(api, "stop-queued", run.id)

    assert response.status_code == 202
    run.refresh_from_db()
    assert run.status == RunStatus.STOPPED


@pytest.mark.parametrize("status", [RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.STOPPED])
def test_a_run_that_ended_is_409(db: None, api: APIClient, project: Project, status: str) -> None:
    run = make_run(make_task(project, "stop-ended"), status)

    error = assert_error(stop(api, "stop-ended", run.id), 409, "CONFLICT")

    assert error["details"]["status"] == status


def test_unknown_and_invalid_ids(db: None, api: APIClient, project: Project) -> None:
    make_task(project, "stop-ids")

    assert_error(stop(api, "stop-ids", "run-20250101-000000-deadbeef"), 404, "NOT_FOUND")
    assert_error(stop(api, "nope", "run-20250101-000000-deadbeef"), 404, "NOT_FOUND")
    assert_error(stop(api, "stop-ids", "bad.id"), 400, "BAD_REQUEST")
