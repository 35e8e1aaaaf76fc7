"""`/metrics` in production mode: runs that a separate `conductor worker` process finishes
are counted by the API process, which reads the counts from the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from projects import storage
from projects.models import Project
from tests.conftest import create_task, run_finished, wait_for
from tests.processes import ConductorProcess

pytestmark = pytest.mark.production

WAIT_FOR_GO = 'while [ ! -f "$CONDUCTOR_TASK_DIR/go" ]; do sleep 0.02; done'


def metric(api: APIClient, name: str) -> float:
    response = api.get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} is not on /metrics")


def test_runs_finished_by_a_worker_process_are_counted(
    start_worker: Callable[..., ConductorProcess], api: APIClient, project: Project
) -> None:
    worker = start_worker()
    before: dict[str, Any] = {
        name: metric(api, name)
        for name in ("conductor_completed_runs_total", "conductor_failed_runs_total")
    }
    held = create_task(api, task_id="held", prompt=WAIT_FOR_GO)
    wait_for(lambda: metric(api, "conductor_active_runs_total") >= 1, 60, "an active run")

    runs = [
        run_finished(create_task(api, task_id=task_id, prompt=prompt)["run_id"])
        for task_id, prompt in (("ok", "true"), ("bad", "exit 3"), ("ok2", "echo done"))
    ]
    (storage.task_dir("demo", "held") / "go").touch()
    runs.append(run_finished(held["run_id"]))

    assert {run.worker for run in runs} == {worker.name}  # type: ignore[attr-defined]
    assert [run.status for run in runs] == ["success", "failed", "success", "success"]
    completed = metric(api, "conductor_completed_runs_total")
    assert completed - before["conductor_completed_runs_total"] == 3
    failed = metric(api, "conductor_failed_runs_total")
    assert failed - before["conductor_failed_runs_total"] == 1
    assert metric(api, "conductor_active_runs_total") == 0
