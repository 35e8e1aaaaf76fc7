"""GET /api/projects/<p>/runs/flat: the UI tree's runs, polled every second or so."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import Project
from runs.models import Run, RunStatus
from tests.helpers import assert_error
from tests.projects.builders import assert_rfc3339_utc, make_run, make_task


def flat(api: APIClient, **params: Any) -> Any:
    return api.get("/api/projects/demo/runs/flat", params)


@pytest.fixture
def runs(db: None, project: Project) -> dict[str, Run]:
    parent = {"project_id": "demo", "task_id": "fl-a", "run_id": "run-p", "message_id": "M"}
    a = make_task(project, "fl-a")
    b = make_task(project, "fl-b", thread_parent=parent)
    made = {
        "a_old": make_run(a, age=timedelta(minutes=30)),
        "a_new": make_run(a, RunStatus.FAILED, age=timedelta(minutes=20)),
        "b_done": make_run(b, age=timedelta(minutes=10)),
        "b_running": make_run(b, RunStatus.RUNNING, age=timedelta(minutes=5)),
        "a_queued": make_run(a, RunStatus.QUEUED, age=timedelta(minutes=1)),
    }
    make_run(a, kind=Run.Kind.SETUP, attempt=made["a_old"].attempt)
    return made


def test_every_agent_run_of_the_project_oldest_first(api: APIClient, runs: dict[str, Run]) -> None:
    response = flat(api)

    assert response.status_code == 200, response.content
    items = response.json()["runs"]
    assert [i["id"] for i in items] == [r.id for r in runs.values()]
    done = items[0]
    assert set(done) == {"id", "task_id", "agent", "status", "exit_code", "start_time", "end_time"}
    assert (done["task_id"], done["agent"], done["status"], done["exit_code"]) == (
        "fl-a",
        "shell",
        "completed",
        0,
    )
    assert_rfc3339_utc(done["start_time"])
    assert_rfc3339_utc(done["end_time"])
    running = items[3]
    assert (running["exit_code"], running["parent_run_id"]) == (-1, "run-p")
    assert "end_time" not in running


def test_active_only_with_the_selected_tasks_latest_runs(
    api: APIClient, runs: dict[str, Run]
) -> None:
    active = flat(api, active_only=1).json()["runs"]
    selected = flat(api, active_only="true", selected_task_id="fl-a", selected_task_limit=1).json()[
        "runs"
    ]
    two = flat(api, active_only=1, selected_task_id="fl-b", selected_task_limit=2).json()["runs"]
    none = flat(api, active_only=1, selected_task_id="fl-b", selected_task_limit=0).json()["runs"]

    assert [i["id"] for i in active] == [runs["b_running"].id, runs["a_queued"].id]
    assert [i["id"] for i in selected] == [runs["b_running"].id, runs["a_queued"].id]
    assert [i["id"] for i in two] == [runs["b_done"].id, runs["b_running"].id, runs["a_queued"].id]
    assert [i["id"] for i in none] == [i["id"] for i in active]


def test_the_selected_limit_defaults_to_and_is_capped_at_200(
    api: APIClient, runs: dict[str, Run]
) -> None:
    default = flat(api, active_only=1, selected_task_id="fl-a").json()["runs"]
    capped = flat(api, active_only=1, selected_task_id="fl-a", selected_task_limit=10**6)

    assert {i["id"] for i in default} == {
        runs["a_old"].id,
        runs["a_new"].id,
        runs["a_queued"].id,
        runs["b_running"].id,
    }
    assert capped.status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"selected_task_limit": "-1"},
        {"selected_task_limit": "one"},
        {"selected_task_id": "bad.id"},
        {"active_only": "perhaps"},
    ],
)
def test_bad_parameters_are_400(api: APIClient, runs: dict[str, Run], params: Any) -> None:
    assert_error(flat(api, **params), 400, "BAD_REQUEST")


def test_unknown_and_invalid_projects(db: None, api: APIClient) -> None:
    assert_error(api.get("/api/projects/nope/runs/flat"), 404, "NOT_FOUND")
    assert_error(api.get("/api/projects/bad.id/runs/flat"), 400, "BAD_REQUEST")


def test_a_fixed_number_of_queries_for_many_runs(
    db: None, api: APIClient, project: Project, django_assert_max_num_queries: Any
) -> None:
    for n in range(50):
        task = make_task(project, f"fl-many-{n}")
        make_run(task)
        make_run(task, RunStatus.RUNNING if n % 5 == 0 else RunStatus.FAILED)

    with django_assert_max_num_queries(2):
        everything = flat(api).json()["runs"]
    with django_assert_max_num_queries(3):
        active = flat(
            api, active_only=1, selected_task_id="fl-many-3", selected_task_limit=1
        ).json()["runs"]

    assert len(everything) == 100
    assert len(active) == 50  # each task's latest run: 10 running, 40 failed


def test_active_only_carries_each_tasks_latest_run_so_a_finished_task_shows_it(
    db: None, api: APIClient, project: Project
) -> None:
    """A task that finished while another runs reads its final state on the next poll, not
    the stale `running` of the list the UI read while it ran."""
    a, b, idle = make_task(project, "fl-a"), make_task(project, "fl-b"), make_task(project, "fl-c")
    old = make_run(a, RunStatus.FAILED, age=timedelta(minutes=9))
    finished = make_run(a, age=timedelta(minutes=2))
    running = make_run(b, RunStatus.RUNNING, age=timedelta(minutes=1))
    make_run(idle, RunStatus.STOPPED, age=timedelta(minutes=5))

    items = flat(api, active_only=1).json()["runs"]

    by_id = {item["id"]: item for item in items}
    assert old.id not in by_id
    assert (by_id[finished.id]["status"], by_id[finished.id]["exit_code"]) == ("completed", 0)
    assert by_id[running.id]["status"] == "running"
    assert [item["task_id"] for item in items] == ["fl-c", "fl-a", "fl-b"]  # oldest first


def test_active_only_carries_the_thread_parents_runs_they_nest_under(
    db: None, api: APIClient, project: Project
) -> None:
    parent_task = make_task(project, "fl-parent")
    asked = make_run(parent_task, age=timedelta(minutes=9))
    make_run(parent_task, age=timedelta(minutes=8))  # the parent task's latest
    thread = {"project_id": "demo", "task_id": "fl-parent", "run_id": asked.id, "message_id": "M"}
    child = make_task(project, "fl-child", thread_parent=thread)
    answer = make_run(child, RunStatus.RUNNING)
    foreign = {**thread, "project_id": "other", "run_id": "run-elsewhere"}
    make_run(make_task(project, "fl-foreign", thread_parent=foreign), RunStatus.RUNNING)

    items = flat(api, active_only=1).json()["runs"]

    by_id = {item["id"]: item for item in items}
    assert by_id[answer.id]["parent_run_id"] == asked.id
    assert asked.id in by_id
    assert "run-elsewhere" not in by_id
