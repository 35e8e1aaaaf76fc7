"""A dev server runs on the worker that owns the attempt's worktree: the test process is the
API process, a real `conductor worker` starts, serves and stops it."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from projects.models import Project
from runs.models import Attempt, Run
from tests.conftest import attempt_finished, create_task, run_finished, wait_for
from tests.helpers import DEV_SERVER_SCRIPT
from tests.processes import ConductorProcess, processes_of_run

pytestmark = pytest.mark.production


@pytest.fixture
def owned(
    start_worker: Callable[..., ConductorProcess], api: APIClient, project: Project
) -> tuple[ConductorProcess, Attempt]:
    project.dev_server_script = DEV_SERVER_SCRIPT
    project.save()
    worker = start_worker()
    created = create_task(api, prompt="echo built > built.txt")
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)
    assert attempt.status == "success", attempt.error_summary
    return worker, attempt


def serving(api: APIClient, attempt: Attempt) -> Run:
    response = api.post(f"/api/v1/attempts/{attempt.id}/dev-server")
    assert response.status_code == 201, response.content
    run_id = response.json()["run_id"]
    wait_for(lambda: Run.objects.get(id=run_id).url, 30, "the dev server's URL")
    return Run.objects.get(id=run_id)


def test_the_owning_worker_serves_the_worktree_and_stops_it(
    owned: tuple[ConductorProcess, Attempt], api: APIClient
) -> None:
    worker, attempt = owned

    run = serving(api, attempt)

    assert run.worker == attempt.worker == worker.name  # type: ignore[attr-defined]
    with urllib.request.urlopen(run.url, timeout=10) as page:
        assert "built.txt" in page.read().decode()
    response = api.post(f"/api/v1/attempts/{attempt.id}/dev-server/stop")
    assert (response.status_code, response.json()["status"]) == (200, "stopped")
    assert processes_of_run(run.id) == []


def test_a_worker_shutting_down_stops_its_dev_server(
    owned: tuple[ConductorProcess, Attempt], api: APIClient
) -> None:
    worker, attempt = owned
    run = serving(api, attempt)

    worker.terminate()

    run.refresh_from_db()
    assert run.status == "stopped" and "shut down" in run.error_summary
    assert processes_of_run(run.id) == []
