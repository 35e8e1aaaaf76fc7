"""GET /api/projects/<p>/tasks/<t>, …/runs and …/runs/<r>: what the UI's task and run panes
and `run-agent server task runs` read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import Project
from runs.files import run_files
from runs.models import Run, RunStatus
from tests.helpers import assert_error
from tests.projects.builders import (
    assert_rfc3339_utc,
    finished_task,
    make_run,
    make_task,
)

RUN_KEYS = {
    "id",
    "run_id",
    "project_id",
    "task_id",
    "kind",
    "agent",
    "agent_version",
    "status",
    "exit_code",
    "start_time",
    "end_time",
    "parent_run_id",
    "previous_run_id",
    "error_summary",
    "files",
}
TASK_KEYS = {
    "id",
    "task_id",
    "project_id",
    "status",
    "state",
    "done",
    "depends_on",
    "blocked_by",
    "thread_parent",
    "queue_position",
    "last_activity",
    "created_at",
    "runs",
    "attempt_ids",  # ours, beyond the contract's fields: its clients ignore what they do not know
}


def test_a_finished_task_with_its_runs_oldest_first(
    work: str, api: APIClient, project: Project
) -> None:
    first = finished_task(api, "d-real", "echo one; echo oops >&2; exit 2")
    second = finished_task(api, "d-real", "echo two", attach_mode="attach")

    response = api.get("/api/projects/demo/tasks/d-real")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == TASK_KEYS
    assert (body["id"], body["task_id"], body["project_id"]) == ("d-real", "d-real", "demo")
    assert (body["status"], body["state"], body["done"]) == ("completed", "idle", False)
    assert_rfc3339_utc(body["created_at"])
    assert_rfc3339_utc(body["last_activity"])
    assert [run["id"] for run in body["runs"]] == [first, second]
    failed, succeeded = body["runs"]
    for run in body["runs"]:
        assert set(run) == RUN_KEYS
        assert run["run_id"] == run["id"]
        assert run["agent"] == "shell"
        assert_rfc3339_utc(run["start_time"])
        assert_rfc3339_utc(run["end_time"])
        assert run["files"] == run_files(Run.objects.get(id=run["id"]))
    assert (failed["status"], failed["exit_code"]) == ("failed", 2)
    # The UI's word, as the live `status` events of /api/v1/runs/stream/all say it.
    assert (succeeded["status"], succeeded["exit_code"]) == ("completed", 0)
    sizes = {f["name"]: f["size"] for f in failed["files"]}
    assert (sizes["stdout"], sizes["stderr"]) == (4, 5)
    assert {f["name"]: f["label"] for f in failed["files"]}["output.md"] == "output"


def test_a_running_run_has_exit_code_minus_one_and_no_end_time(
    db: None, api: APIClient, project: Project
) -> None:
    task = make_task(project, "d-running")
    run = make_run(task, RunStatus.RUNNING)

    body = api.get("/api/projects/demo/tasks/d-running").json()
    detail = api.get(f"/api/projects/demo/tasks/d-running/runs/{run.id}").json()

    assert (body["status"], body["state"]) == ("running", "running")
    for shape in (body["runs"][0], detail):
        assert (shape["exit_code"], shape["end_time"], shape["status"]) == (-1, None, "running")


def test_a_started_run_lists_stdout_and_stderr_before_it_prints(
    db: None, api: APIClient, project: Project
) -> None:
    """So the UI picks the live output of a run that has not printed yet, not `prompt`."""
    waiting = make_run(make_task(project, "d-waiting"), RunStatus.QUEUED)
    started = make_run(make_task(project, "d-started"), RunStatus.RUNNING)

    queued = api.get("/api/projects/demo/tasks/d-waiting").json()["runs"][0]
    running = api.get("/api/projects/demo/tasks/d-started").json()["runs"][0]
    detail = api.get(f"/api/projects/demo/tasks/d-started/runs/{started.id}").json()

    assert (queued["id"], queued["status"]) == (waiting.id, "queued")
    assert [f["name"] for f in queued["files"]] == ["prompt"]
    for shape in (running, detail):
        sizes = {f["name"]: f["size"] for f in shape["files"]}
        assert list(sizes) == ["stdout", "stderr", "prompt"]
        assert (sizes["stdout"], sizes["stderr"]) == (0, 0)


def test_threaded_and_follow_up_runs_link_their_parents(
    db: None, api: APIClient, project: Project
) -> None:
    parent = {"project_id": "demo", "task_id": "p", "run_id": "run-parent", "message_id": "M"}
    task = make_task(project, "d-thread", thread_parent=parent)
    first = make_run(task, age=timedelta(minutes=1))
    follow_up = make_run(task, attempt=first.attempt)
    Run.objects.filter(id=follow_up.id).update(previous_run=first)

    runs = api.get("/api/projects/demo/tasks/d-thread").json()["runs"]

    assert [r["parent_run_id"] for r in runs] == ["run-parent", "run-parent"]
    assert [r["previous_run_id"] for r in runs] == [None, first.id]


def test_only_agent_runs_are_listed(db: None, api: APIClient, project: Project) -> None:
    task = make_task(project, "d-kinds")
    agent = make_run(task)
    make_run(task, kind=Run.Kind.SETUP, attempt=agent.attempt)

    runs = api.get("/api/projects/demo/tasks/d-kinds").json()["runs"]

    assert [r["id"] for r in runs] == [agent.id]


def test_the_run_list_newest_first_with_paging(db: None, api: APIClient, project: Project) -> None:
    task = make_task(project, "d-many")
    made = [make_run(task, age=timedelta(minutes=10 - n)) for n in range(3)]

    response = api.get("/api/projects/demo/tasks/d-many/runs", {"limit": 2})
    rest = api.get("/api/projects/demo/tasks/d-many/runs", {"limit": 2, "offset": 2}).json()

    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["id"] for r in body["items"]] == [made[2].id, made[1].id]
    assert (body["total"], body["has_more"], body["limit"], body["offset"]) == (3, True, 2, 0)
    assert set(body["items"][0]) == RUN_KEYS
    assert [r["id"] for r in rest["items"]] == [made[0].id]
    assert rest["has_more"] is False


def test_the_run_detail_is_a_superset(work: str, api: APIClient, project: Project) -> None:
    run_id = finished_task(api, "d-detail", "echo detail")

    response = api.get(f"/api/projects/demo/tasks/d-detail/runs/{run_id}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == RUN_KEYS | {"cwd", "pid", "pgid", "worker"}
    assert (body["id"], body["run_id"], body["task_id"]) == (run_id, run_id, "d-detail")
    assert (body["status"], body["exit_code"]) == ("completed", 0)
    assert body["cwd"] and isinstance(body["pid"], int) and body["pgid"] == body["pid"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/projects/demo/tasks/nope",
        "/api/projects/demo/tasks/nope/runs",
        "/api/projects/demo/tasks/d-404/runs/run-20250101-000000-deadbeef",
        "/api/projects/ghost/tasks/d-404",
    ],
)
def test_unknown_ids_are_404(db: None, api: APIClient, project: Project, path: str) -> None:
    make_task(project, "d-404")

    assert_error(api.get(path), 404, "NOT_FOUND")


def test_a_run_of_another_task_is_404(db: None, api: APIClient, project: Project) -> None:
    make_task(project, "d-mine")
    other = make_run(make_task(project, "d-other"))

    response = api.get(f"/api/projects/demo/tasks/d-mine/runs/{other.id}")

    assert_error(response, 404, "NOT_FOUND")


def test_a_run_of_the_same_task_id_in_another_project_is_404(
    db: None, api: APIClient, project: Project
) -> None:
    make_task(project, "d-same")
    other = Project.objects.create(id="other", project_root=project.project_root)
    theirs = make_run(make_task(other, "d-same"))

    response = api.get(f"/api/projects/demo/tasks/d-same/runs/{theirs.id}")

    assert assert_error(response, 404, "NOT_FOUND")["error"] == (
        f"run {theirs.id!r} not found in task 'd-same'"
    )


@pytest.mark.parametrize(
    ("path", "missing"),
    [
        ("ghost/tasks/d-name/runs/run-20250101-000000-deadbeef", "project 'ghost' not found"),
        ("demo/tasks/nope/runs/run-20250101-000000-deadbeef", "task 'nope' not found in project"),
        ("demo/tasks/d-name/runs/run-20250101-000000-deadbeef", "run 'run-20250101-000000-"),
    ],
)
def test_a_missing_run_names_what_is_missing(
    db: None, api: APIClient, project: Project, path: str, missing: str
) -> None:
    make_task(project, "d-name")

    for route in ("", "/file?name=stdout", "/stop"):
        url = f"/api/projects/{path}{route}"
        response = api.post(url) if route == "/stop" else api.get(url)
        assert assert_error(response, 404, "NOT_FOUND")["error"].startswith(missing), url


@pytest.mark.parametrize(
    "path",
    [
        "/api/projects/demo/tasks/bad.id",
        "/api/projects/demo/tasks/bad.id/runs",
        "/api/projects/demo/tasks/t1/runs/bad.id",
        "/api/projects/bad.id/tasks/t1/runs/run-1",
    ],
)
def test_invalid_ids_are_400(db: None, api: APIClient, path: str) -> None:
    assert_error(api.get(path), 400, "BAD_REQUEST")


def test_an_invalid_run_list_limit_is_400(db: None, api: APIClient, project: Project) -> None:
    make_task(project, "d-limit")
    response: Any = api.get("/api/projects/demo/tasks/d-limit/runs", {"limit": "-3"})

    assert_error(response, 400, "BAD_REQUEST")
