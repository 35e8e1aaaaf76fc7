"""GET /api/v1/runs/<run_id> (and /info), POST /api/v1/runs/<run_id>/stop."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs.models import Run
from tests.conftest import attempt_finished, create_task, log_text, run_finished, wait_for
from tests.helpers import assert_error
from tests.processes import Server

RUN_KEYS = {
    "run_id",
    "project_id",
    "task_id",
    "kind",
    "status",
    "start_time",
    "agent",
    "agent_version",
    "error_summary",
}


def hanging_run(api: APIClient) -> str:
    """A fake Claude that prints `hanging` and then sleeps until it is signalled."""
    run_id = create_task(api, agent_type="fake-claude", prompt="hang")["run_id"]
    wait_for(lambda: "hanging" in log_text(run_id), what="the agent to hang")
    return run_id


def process_group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_output_is_stdout_and_stderr_merged_in_order(
    work: str, api: APIClient, project: Project
) -> None:
    # Pauses in the script keep the two pipes from racing: the order is the agent's.
    prompt = "echo out; sleep 0.2; echo err >&2; sleep 0.2; echo out2"
    run_id = run_finished(create_task(api, prompt=prompt)["run_id"]).id

    body = api.get(f"/api/v1/runs/{run_id}").json()

    assert body["output"] == "out\nerr\nout2\n"
    assert body["output"] == log_text(run_id)
    assert log_text(run_id, "stderr") == "err\n"


def test_a_finished_run_has_every_field(work: str, api: APIClient, project: Project) -> None:
    created = create_task(api, prompt="echo hi")
    run_finished(created["run_id"])

    response = api.get(f"/api/v1/runs/{created['run_id']}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == RUN_KEYS | {"end_time", "exit_code", "output"}
    assert body["run_id"] == created["run_id"]
    assert (body["project_id"], body["task_id"]) == ("demo", "t1")
    assert (body["kind"], body["agent"]) == ("agent", "shell")
    assert (body["status"], body["exit_code"], body["error_summary"]) == ("success", 0, "")
    assert body["start_time"].endswith("Z") and body["end_time"].endswith("Z")
    assert body["output"] == "hi\n"


def test_a_failed_run_reports_its_exit_code_and_summary(
    work: str, api: APIClient, project: Project
) -> None:
    run_id = run_finished(create_task(api, prompt="exit 3")["run_id"]).id

    body = api.get(f"/api/v1/runs/{run_id}").json()

    assert (body["status"], body["exit_code"]) == ("failed", 3)
    assert body["error_summary"] == "exited with code 3"


def test_end_time_and_exit_code_are_absent_while_running_and_present_after(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile, hang_guard: None
) -> None:
    run_id = hanging_run(api)

    running = api.get(f"/api/v1/runs/{run_id}").json()
    running_info = api.get(f"/api/v1/runs/{run_id}/info").json()

    assert running["status"] == "running"
    for body in (running, running_info):
        assert "end_time" not in body
        assert "exit_code" not in body
    assert "hanging" in running["output"]

    assert api.post(f"/api/v1/runs/{run_id}/stop").status_code == 200
    run_finished(run_id)
    ended = api.get(f"/api/v1/runs/{run_id}").json()
    ended_info = api.get(f"/api/v1/runs/{run_id}/info").json()
    for body in (ended, ended_info):
        assert body["end_time"].endswith("Z")
        assert isinstance(body["exit_code"], int)


def test_info_is_the_run_without_output(work: str, api: APIClient, project: Project) -> None:
    run_id = run_finished(create_task(api, prompt="echo hi")["run_id"]).id

    full = api.get(f"/api/v1/runs/{run_id}").json()
    response = api.get(f"/api/v1/runs/{run_id}/info")

    assert response.status_code == 200, response.content
    info = response.json()
    assert "output" not in info
    assert info == {k: v for k, v in full.items() if k != "output"}


@pytest.mark.parametrize("suffix", ["", "/info", "/stop"])
def test_an_unknown_run_is_404(db: None, api: APIClient, suffix: str) -> None:
    path = f"/api/v1/runs/run-20250101-000000-deadbeef{suffix}"
    response = api.post(path) if suffix == "/stop" else api.get(path)

    error = assert_error(response, 404, "NOT_FOUND")

    assert "run-20250101-000000-deadbeef" in error["error"]


@pytest.mark.parametrize("suffix", ["", "/info", "/stop"])
def test_an_invalid_run_id_is_400(db: None, api: APIClient, suffix: str) -> None:
    path = f"/api/v1/runs/bad.id{suffix}"
    response = api.post(path) if suffix == "/stop" else api.get(path)

    assert_error(response, 400, "BAD_REQUEST")


def test_a_run_id_with_a_trailing_newline_is_400(db: None, api: APIClient) -> None:
    assert_error(api.get("/api/v1/runs/bad%0A"), 400, "BAD_REQUEST")


def test_output_is_capped_with_a_truncation_marker(
    work: str, api: APIClient, project: Project, settings: Settings
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "OUTPUT_MAX_BYTES": 1000}
    run_id = run_finished(create_task(api, prompt="seq 1 5000")["run_id"]).id
    full = log_text(run_id)
    assert full == "".join(f"{i}\n" for i in range(1, 5001)), "the stored log is whole"

    output = api.get(f"/api/v1/runs/{run_id}").json()["output"]

    assert output[:1000] == full[:1000]
    marker = output[1000:]
    assert "truncated" in marker
    assert len(marker) < 300
    assert "4999\n5000" not in output


def test_output_under_the_cap_has_no_marker(
    work: str, api: APIClient, project: Project, settings: Settings
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "OUTPUT_MAX_BYTES": 1000}
    run_id = run_finished(create_task(api, prompt="seq 1 10")["run_id"]).id

    output = api.get(f"/api/v1/runs/{run_id}").json()["output"]

    assert output == "".join(f"{i}\n" for i in range(1, 11))


def test_stop_ends_a_hanging_agent_as_stopped_by_user(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile, hang_guard: None
) -> None:
    run_id = hanging_run(api)

    response = api.post(f"/api/v1/runs/{run_id}/stop")

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "stopped"}
    body = api.get(f"/api/v1/runs/{run_id}").json()
    assert body["status"] == "stopped"
    assert body["error_summary"] == "stopped by user"
    run = Run.objects.get(id=run_id)
    assert attempt_finished(run.attempt_id).status == "stopped"


def test_stop_kills_the_agents_process_group(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile, hang_guard: None
) -> None:
    run_id = hanging_run(api)
    pid = Run.objects.get(id=run_id).pid
    assert pid, "the running agent's pid is recorded"
    assert not process_group_gone(pid)

    assert api.post(f"/api/v1/runs/{run_id}/stop").status_code == 200

    wait_for(lambda: process_group_gone(pid), timeout=30, what=f"process group {pid} to end")


def test_stop_on_a_successful_run_is_409(work: str, api: APIClient, project: Project) -> None:
    run_id = run_finished(create_task(api, prompt="true")["run_id"]).id

    error = assert_error(api.post(f"/api/v1/runs/{run_id}/stop"), 409, "CONFLICT")

    assert "success" in error["error"]
    assert Run.objects.get(id=run_id).status == "success"


def test_stop_is_idempotent_on_a_stopped_run(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile, hang_guard: None
) -> None:
    run_id = hanging_run(api)
    assert api.post(f"/api/v1/runs/{run_id}/stop").status_code == 200
    run_finished(run_id)

    again = api.post(f"/api/v1/runs/{run_id}/stop")

    assert again.status_code == 200, again.content
    assert again.json() == {"status": "stopped"}
    assert api.get(f"/api/v1/runs/{run_id}").json()["error_summary"] == "stopped by user"


def test_agents_of_a_server_started_by_a_script_still_get_sigint_first(tmp_path: Path) -> None:
    """`conductor serve &` in a script starts the server with SIGINT ignored; its agents
    must not inherit that, or every stop waits a grace period for the SIGTERM."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        server = Server(tmp_path / "data", tmp_path / "server.log")
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        task = {"project_id": "demo", "task_id": "t1", "agent_type": "shell"}
        status, created = server.request(
            "POST", "/api/v1/tasks", {**task, "prompt": "echo ready; sleep 600"}
        )
        assert status == 201, created
        path = f"/api/v1/runs/{created['run_id']}"
        wait_for(lambda: "ready" in server.request("GET", path)[1]["output"], 60, "the agent")

        assert server.request("POST", f"{path}/stop") == (200, {"status": "stopped"})

        run = server.request("GET", f"{path}/info")[1]
        assert (run["status"], run["exit_code"]) == ("stopped", 128 + signal.SIGINT)
    finally:
        server.terminate()
