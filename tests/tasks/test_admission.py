"""The planner: a FIFO queue under max_concurrent_root_tasks, dependencies, cancelling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects import storage
from projects.models import Project
from runs.models import Run, RunStatus
from tests.conftest import create_task, run_finished, wait_for
from tests.projects.builders import make_run, make_task

# Runs until the test creates `go` in the task's folder: an event to await, not a sleep.
WAIT_FOR_GO = 'while [ ! -f "$CONDUCTOR_TASK_DIR/go" ]; do sleep 0.02; done; echo released'


def release(task_id: str, project_id: str = "demo") -> None:
    (storage.task_dir(project_id, task_id) / "go").touch()


def task(api: APIClient, task_id: str, project_id: str = "demo") -> dict[str, Any]:
    return api.get(f"/api/v1/tasks/{task_id}?project_id={project_id}").json()


def running(run_id: str) -> bool:
    return Run.objects.get(id=run_id).status == "running"


@pytest.fixture
def one_slot(settings: Any) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "MAX_CONCURRENT_ROOT_TASKS": 1}


def test_past_the_limit_tasks_queue_in_fifo_order(
    work: str, api: APIClient, project: Project, one_slot: None
) -> None:
    first = create_task(api, task_id="a", prompt=WAIT_FOR_GO)
    second = create_task(api, task_id="b", prompt=WAIT_FOR_GO)
    third = create_task(api, task_id="c", prompt=WAIT_FOR_GO)

    assert (first["status"], first["queue_position"]) == ("started", 0)
    assert (second["status"], second["queue_position"]) == ("queued", 1)
    assert (third["status"], third["queue_position"]) == ("queued", 2)
    assert (task(api, "b")["status"], task(api, "b")["queue_position"]) == ("queued", 1)
    wait_for(lambda: running(first["run_id"]), what="the first task to run")

    release("a")
    wait_for(lambda: running(second["run_id"]), what="the second task to start")
    assert run_finished(first["run_id"]).status == "success"
    assert (task(api, "c")["status"], task(api, "c")["queue_position"]) == ("queued", 1)
    assert Run.objects.get(id=third["run_id"]).status == "queued"

    release("b")
    release("c")
    assert run_finished(third["run_id"]).status == "success"


def test_a_task_waits_blocked_until_its_dependency_completes(
    work: str, api: APIClient, project: Project
) -> None:
    base = create_task(api, task_id="base", prompt=WAIT_FOR_GO)
    child = create_task(api, task_id="child", prompt="echo after base", depends_on=["base"])

    assert child["status"] == "queued" and child["depends_on"] == ["base"]
    detail = task(api, "child")
    assert (detail["status"], detail["blocked_by"]) == ("blocked", ["base"])
    assert Run.objects.get(id=child["run_id"]).status == "queued"

    release("base")
    assert run_finished(base["run_id"]).status == "success"
    assert run_finished(child["run_id"]).status == "success"
    assert task(api, "child")["status"] == "completed"
    assert task(api, "child")["blocked_by"] == []


def test_a_failed_dependency_fails_the_dependent_with_the_reason(
    work: str, api: APIClient, project: Project
) -> None:
    base = create_task(api, task_id="base", prompt=WAIT_FOR_GO + "; exit 2")
    child = create_task(api, task_id="child", prompt="echo never", depends_on=["base"])

    release("base")
    assert run_finished(base["run_id"]).status == "failed"
    run = run_finished(child["run_id"])
    assert run.status == "failed"
    assert run.error_summary == "dependency 'base' failed; this task did not start"
    assert task(api, "child")["status"] == "failed"


def test_deleting_a_task_stops_its_run_and_keeps_its_data(
    work: str, api: APIClient, project: Project
) -> None:
    created = create_task(api, prompt="echo started; " + WAIT_FOR_GO)
    wait_for(lambda: running(created["run_id"]), what="the run to start")

    response = api.delete("/api/v1/tasks/t1?project_id=demo")

    assert response.status_code == 200
    assert response.json() == {"status": "cancelled", "stopped_runs": [created["run_id"]]}
    # Like /api/v1/runs/<r>/stop, the answer comes once the run has ended.
    detail = task(api, "t1")
    assert detail["status"] == "idle"
    assert detail["runs"][0]["run_id"] == created["run_id"]
    assert detail["runs"][0]["status"] == "stopped"
    assert (storage.task_dir("demo", "t1") / "TASK.md").exists()


def test_deleting_a_queued_task_dequeues_it(
    work: str, api: APIClient, project: Project, one_slot: None
) -> None:
    first = create_task(api, task_id="a", prompt=WAIT_FOR_GO)
    queued = create_task(api, task_id="b", prompt="echo never")
    later = create_task(api, task_id="c", prompt="echo later")

    assert api.delete("/api/v1/tasks/b?project_id=demo").status_code == 200
    assert task(api, "b")["status"] == "idle"
    assert task(api, "c")["queue_position"] == 1

    release("a")
    assert run_finished(first["run_id"]).status == "success"
    assert run_finished(later["run_id"]).status == "success"
    assert Run.objects.get(id=queued["run_id"]).status == "stopped"


def test_delete_needs_a_project_and_a_known_task(db: None, api: APIClient) -> None:
    assert api.delete("/api/v1/tasks/t1").status_code == 400
    assert api.delete("/api/v1/tasks/t1?project_id=nope").status_code == 404


def test_the_task_list_filters_by_project(work: str, api: APIClient, project: Project) -> None:
    run_finished(create_task(api, task_id="one")["run_id"])
    run_finished(create_task(api, project_id="other", task_id="two")["run_id"])

    everything = api.get("/api/v1/tasks").json()["tasks"]
    mine = api.get("/api/v1/tasks?project_id=demo").json()["tasks"]

    assert {(t["project_id"], t["task_id"]) for t in everything} == {
        ("demo", "one"),
        ("other", "two"),
    }
    assert [t["task_id"] for t in mine] == ["one"]
    assert mine[0]["status"] == "completed" and mine[0]["runs"][0]["status"] == "success"
    assert api.get("/api/v1/tasks?project_id=a.b").status_code == 400


def test_the_task_list_costs_a_fixed_number_of_queries(
    db: None, api: APIClient, project: Project, django_assert_max_num_queries: Any
) -> None:
    for n in range(30):
        task = make_task(project, f"many-{n}")
        make_run(task, RunStatus.FAILED)
        make_run(task, RunStatus.SUCCESS)

    with django_assert_max_num_queries(4):
        listed = api.get("/api/v1/tasks").json()["tasks"]

    assert len(listed) == 30
    assert all(len(t["runs"]) == 2 and t["status"] == "completed" for t in listed)


def test_project_root_may_use_a_tilde(db: None, api: APIClient, tmp_path: Path) -> None:
    response = api.post(
        "/api/v1/tasks",
        {
            "project_id": "p",
            "task_id": "t",
            "agent_type": "shell",
            "prompt": "true",
            "project_root": "~/definitely-missing-dir-xyz",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "definitely-missing-dir-xyz" in response.json()["error"]
