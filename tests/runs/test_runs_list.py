"""GET /api/v1/runs (newest first, filters, paging headers) and GET /api/v1/status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs.agents import AGENT_TYPES
from runs.models import Run, RunStatus
from tests.conftest import create_task, log_text, run_finished, wait_for
from tests.helpers import assert_error
from tests.projects.builders import assert_rfc3339_utc, make_run, make_task


def runs(api: APIClient, **params: Any) -> Any:
    return api.get("/api/v1/runs", params)


def ids(response: Any) -> list[str]:
    return [run["run_id"] for run in response.json()["runs"]]


@pytest.fixture
def made(db: None, project: Project, tmp_path: Any) -> dict[str, Run]:
    other = Project.objects.create(id="other", project_root=str(tmp_path))
    a, b = make_task(project, "rl-a"), make_task(project, "rl-b")
    result = {
        "a1": make_run(a, age=timedelta(minutes=40)),
        "b1": make_run(b, RunStatus.FAILED, age=timedelta(minutes=30)),
        "other": make_run(make_task(other, "rl-a"), age=timedelta(minutes=20)),
        "a2": make_run(a, RunStatus.RUNNING, age=timedelta(minutes=10)),
    }
    make_run(a, kind=Run.Kind.SETUP, attempt=result["a2"].attempt)
    return result


def test_agent_runs_newest_first_in_the_documented_shape(
    api: APIClient, made: dict[str, Run]
) -> None:
    response = runs(api)

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"runs"}
    assert ids(response) == [made[k].id for k in ("a2", "other", "b1", "a1")]
    running, *_, finished = response.json()["runs"]
    assert "end_time" not in running and "exit_code" not in running
    assert (finished["project_id"], finished["task_id"], finished["status"]) == (
        "demo",
        "rl-a",
        "success",
    )
    assert finished["exit_code"] == 0
    assert_rfc3339_utc(finished["end_time"])
    assert response["X-Total-Count"] == "4"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"project_id": "demo"}, ["a2", "b1", "a1"]),
        ({"project_id": "other"}, ["other"]),
        ({"task_id": "rl-a"}, ["a2", "other", "a1"]),
        ({"project_id": "demo", "task_id": "rl-a"}, ["a2", "a1"]),
        ({"status": "failed"}, ["b1"]),
        ({"project_id": "nope"}, []),
    ],
)
def test_filters(
    api: APIClient, made: dict[str, Run], params: dict[str, str], expected: list[str]
) -> None:
    response = runs(api, **params)

    assert ids(response) == [made[k].id for k in expected]
    assert response["X-Total-Count"] == str(len(expected))


def test_kind_selects_other_runs(api: APIClient, made: dict[str, Run]) -> None:
    assert len(ids(runs(api, kind="all"))) == 5
    assert [r["kind"] for r in runs(api, kind="setup").json()["runs"]] == ["setup"]


def test_paging_with_headers(api: APIClient, made: dict[str, Run]) -> None:
    first = runs(api, limit=2)
    second = runs(api, limit=2, offset=2)

    assert ids(first) == [made["a2"].id, made["other"].id]
    assert ids(second) == [made["b1"].id, made["a1"].id]
    assert (first["X-Total-Count"], first["X-Limit"], first["X-Offset"]) == ("4", "2", "0")
    assert second["X-Offset"] == "2"


def test_the_default_limit_is_100(db: None, api: APIClient, project: Project) -> None:
    task = make_task(project, "rl-many")
    for _ in range(101):
        make_run(task)

    response = runs(api)

    assert len(response.json()["runs"]) == 100
    assert (response["X-Total-Count"], response["X-Limit"]) == ("101", "100")


@pytest.mark.parametrize(
    "params",
    [
        {"status": "done"},
        {"kind": "everything"},
        {"project_id": "bad.id"},
        {"task_id": "bad id"},
        {"limit": "0"},
        {"offset": "x"},
        {"offset": str(2**63)},  # too large for the database: was a 500
    ],
)
def test_bad_parameters_are_400(db: None, api: APIClient, params: dict[str, str]) -> None:
    assert_error(runs(api, **params), 400, "BAD_REQUEST")


# GET /api/v1/status


def test_status_of_an_idle_server(db: None, api: APIClient, fake_claude: AgentProfile) -> None:
    response = api.get("/api/v1/status")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {
        "active_runs_count",
        "uptime_seconds",
        "configured_agents",
        "version",
        "running_tasks",
    }
    assert (body["active_runs_count"], body["running_tasks"]) == (0, [])
    assert isinstance(body["uptime_seconds"], int) and body["uptime_seconds"] >= 0
    assert body["configured_agents"] == sorted({*AGENT_TYPES, "fake-claude"})
    assert body["version"] == api.get("/api/v1/version").json()["version"]


def test_status_lists_running_agents(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile, hang_guard: None
) -> None:
    run_id = create_task(api, task_id="rl-hang", agent_type="fake-claude", prompt="hang")["run_id"]
    wait_for(lambda: "hanging" in log_text(run_id), what="the agent to hang")

    body = api.get("/api/v1/status").json()

    assert body["active_runs_count"] == 1
    (running,) = body["running_tasks"]
    assert {k: running[k] for k in ("project_id", "task_id", "run_id", "agent")} == {
        "project_id": "demo",
        "task_id": "rl-hang",
        "run_id": run_id,
        "agent": "fake-claude",
    }
    assert_rfc3339_utc(running["started"])
    api.post(f"/api/v1/runs/{run_id}/stop")
    run_finished(run_id)
    assert api.get("/api/v1/status").json()["active_runs_count"] == 0
