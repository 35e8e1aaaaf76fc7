"""Self-update as a drain: deferred while root runs are active, the hook once at zero."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import Project
from runs.models import Run
from tests.conftest import create_task, run_finished, wait_for
from tests.tasks.test_admission import WAIT_FOR_GO, release


def hook(tmp_path: Path, exit_code: int = 0) -> Path:
    marker = tmp_path / "hook-ran"
    script = tmp_path / "restart-hook.sh"
    script.write_text(f"#!/bin/sh\necho ran >> {marker}\nexit {exit_code}\n")
    script.chmod(0o755)
    return script


def state(api: APIClient) -> dict[str, Any]:
    return api.get("/api/v1/admin/self-update").json()


def test_idle_by_default(db: None, api: APIClient) -> None:
    assert state(api) | {"active_runs_now": 0} == state(api)
    assert state(api)["state"] == "idle"


def test_the_update_waits_for_the_run_in_flight_then_runs_the_hook_once(
    work: str, api: APIClient, project: Project, tmp_path: Path
) -> None:
    created = create_task(api, prompt=WAIT_FOR_GO)
    wait_for(lambda: Run.objects.get(id=created["run_id"]).status == "running")
    script = hook(tmp_path)

    response = api.post("/api/v1/admin/self-update", {"binary_path": str(script)}, format="json")

    assert response.status_code == 202
    body = response.json()
    assert (body["state"], body["active_runs_at_request"], body["active_runs_now"]) == (
        "deferred",
        1,
        1,
    )
    assert body["binary_path"] == str(script)
    refused = api.post(
        "/api/v1/tasks",
        {"project_id": "demo", "task_id": "new", "agent_type": "shell", "prompt": "true"},
        format="json",
    )
    assert refused.status_code == 409
    assert not (tmp_path / "hook-ran").exists()

    release("t1")
    wait_for(lambda: state(api)["state"] == "idle", what="the drain to finish")
    assert (tmp_path / "hook-ran").read_text() == "ran\n"
    assert state(api)["finished_at"].endswith("Z")
    assert run_finished(created["run_id"]).status == "success"
    assert create_task(api, task_id="after")["status"] == "started"


def test_a_failed_hook_reports_and_lets_queued_tasks_in(
    work: str, api: APIClient, project: Project, tmp_path: Path, settings: Any
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "MAX_CONCURRENT_ROOT_TASKS": 1}
    first = create_task(api, task_id="a", prompt=WAIT_FOR_GO)
    queued = create_task(api, task_id="b", prompt="echo finally")
    assert queued["status"] == "queued"
    api.post("/api/v1/admin/self-update", {"binary_path": str(hook(tmp_path, 3))}, format="json")

    release("a")
    wait_for(lambda: state(api)["state"] == "failed", what="the hook to fail")

    assert "exited 3" in state(api)["last_error"]
    assert run_finished(first["run_id"]).status == "success"
    assert run_finished(queued["run_id"]).status == "success"


@pytest.mark.parametrize("path", ["relative/hook", "/no/such/hook", "NOT-EXECUTABLE"])
def test_the_hook_must_be_an_absolute_executable(
    db: None, api: APIClient, tmp_path: Path, path: str
) -> None:
    if path == "NOT-EXECUTABLE":
        plain = tmp_path / "plain"
        plain.write_text("x")
        path = str(plain)
    response = api.post("/api/v1/admin/self-update", {"binary_path": path}, format="json")
    assert response.status_code == 400
    assert state(api)["state"] == "idle"


def test_a_second_request_while_draining_is_409(
    work: str, api: APIClient, project: Project, tmp_path: Path
) -> None:
    created = create_task(api, prompt=WAIT_FOR_GO)
    wait_for(lambda: Run.objects.get(id=created["run_id"]).status == "running")
    body = {"binary_path": str(hook(tmp_path))}
    assert api.post("/api/v1/admin/self-update", body, format="json").status_code == 202
    assert api.post("/api/v1/admin/self-update", body, format="json").status_code == 409
    release("t1")
    wait_for(lambda: state(api)["state"] == "idle", what="the drain to finish")
