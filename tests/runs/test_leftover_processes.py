"""No process outlives its run: what the agent leaves behind (in its group, in a session of
its own, with or without the run's environment) dies when the run ends, on every path, even
when the agent itself has already died."""

from __future__ import annotations

from pathlib import Path

from rest_framework.test import APIClient

from projects.models import Project
from tests.conftest import create_task, run_finished, wait_for
from tests.processes import (
    UNTIL_ITS_WORKER_DIES,
    Server,
    alive,
    leftover_pids,
    leftovers,
    processes_of_run,
)


def test_what_an_agent_leaves_behind_dies_with_its_run(
    work: str, api: APIClient, project: Project, tmp_path: Path
) -> None:
    created = create_task(api, prompt=leftovers(tmp_path) + "exit 0")

    run = run_finished(created["run_id"])
    pids = leftover_pids(tmp_path)

    assert run.status == "success"
    wait_for(lambda: not any(alive(pid) for pid in pids), 10, f"{pids} to be killed")
    assert processes_of_run(run.id) == []


def test_a_restarted_server_kills_what_a_dead_agent_left_behind(
    tmp_path: Path, git_repo: Path
) -> None:
    data = tmp_path / "data"
    server = Server(data, tmp_path / "server.log")
    try:
        body = {"project_id": "demo", "project_root": str(git_repo)}
        assert server.request("POST", "/api/projects", body)[0] == 201
        prompt = leftovers(tmp_path) + UNTIL_ITS_WORKER_DIES
        task = {"project_id": "demo", "task_id": "t1", "agent_type": "shell", "prompt": prompt}
        status, created = server.request("POST", "/api/v1/tasks", task)
        assert status == 201, created
        run_path = f"/api/v1/runs/{created['run_id']}"
        wait_for(lambda: "started" in server.request("GET", run_path)[1]["output"])
        pids = leftover_pids(tmp_path)
        agent = int((tmp_path / "agent").read_text())
        server.kill()
        wait_for(lambda: not alive(agent), 10, "the agent to exit after its server")
        assert all(alive(pid) for pid in pids)
    finally:
        server.terminate()

    restarted = Server(data, tmp_path / "server2.log", port=server.port)
    try:
        assert restarted.request("GET", run_path)[1]["status"] == "crashed"
        wait_for(lambda: not any(alive(pid) for pid in pids), 10, f"{pids} to be killed")
    finally:
        restarted.terminate()
