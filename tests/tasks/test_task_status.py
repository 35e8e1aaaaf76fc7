"""A task's status follows its attempts: one that runs wins over one that waits for a slot."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from projects import storage
from projects.models import Project
from runs.models import Run
from tests.conftest import create_task, run_finished, wait_for

WAIT_FOR_GO = 'while [ ! -f "$CONDUCTOR_TASK_DIR/go" ]; do sleep 0.02; done'


@pytest.fixture
def one_slot(settings: Any) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "MAX_CONCURRENT_ROOT_TASKS": 1}


def test_a_running_task_reads_running_while_its_second_attempt_waits_for_a_slot(
    work: str, api: APIClient, project: Project, one_slot: None
) -> None:
    first = create_task(api, prompt=WAIT_FOR_GO)
    wait_for(lambda: Run.objects.get(id=first["run_id"]).status == "running")

    second = create_task(api, attach_mode="attach", prompt="echo second")

    assert second["status"] == "queued"
    assert api.get("/api/v1/tasks/t1?project_id=demo").json()["status"] == "running"
    assert api.get("/api/v1/tasks?project_id=demo").json()["tasks"][0]["status"] == "running"
    assert api.get("/api/projects/demo/tasks/t1").json()["status"] == "running"
    listed = api.get("/api/projects/demo/tasks").json()["items"]
    assert [task["status"] for task in listed] == ["running"]
    (storage.task_dir("demo", "t1") / "go").touch()
    assert run_finished(second["run_id"]).status == "success"
    assert api.get("/api/v1/tasks/t1?project_id=demo").json()["status"] == "completed"
