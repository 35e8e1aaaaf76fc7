"""A server killed mid-run: on restart its runs are `crashed`, their lines kept, and the
agents it left behind are killed. Real `conductor serve` processes, spoken to over HTTP."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import wait_for
from tests.processes import Server, processes_of_run


def test_a_killed_server_leaves_crashed_runs_with_their_lines(
    tmp_path: Path, git_repo: Path
) -> None:
    data = tmp_path / "data"
    server = Server(data, tmp_path / "server.log")
    try:
        assert (
            server.request(
                "POST", "/api/projects", {"project_id": "demo", "project_root": str(git_repo)}
            )[0]
            == 201
        )
        status, created = server.request(
            "POST",
            "/api/v1/tasks",
            {
                "project_id": "demo",
                "task_id": "t1",
                "agent_type": "shell",
                "prompt": "for i in 1 2 3 4 5; do echo line $i; done; sleep 600",
            },
        )
        assert status == 201, created
        run_path = f"/api/v1/runs/{created['run_id']}"
        wait_for(
            lambda: "line 5" in server.request("GET", run_path)[1]["output"],
            60,
            "the first lines to be stored",
        )
        agents = processes_of_run(created["run_id"])
        assert agents, "the agent is running"
        server.kill()
    finally:
        server.terminate()

    restarted = Server(data, tmp_path / "server2.log", port=server.port)
    try:
        run = restarted.request("GET", run_path)[1]
        assert run["status"] == "crashed"
        assert run["output"] == "".join(f"line {i}\n" for i in range(1, 6))
        assert "server stopped" in run["error_summary"]
        wait_for(lambda: not processes_of_run(created["run_id"]), 10, "the leftover agent killed")
    finally:
        restarted.terminate()
