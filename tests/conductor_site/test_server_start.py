"""Starting `conductor serve`: one server per data dir, the port bound before anything is
recovered, a quick restart after a crash, and a warning when a git work tree holds the data
dir. Real `conductor serve` processes and real agents."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.helpers import git_cli
from tests.processes import ConductorProcess, Server, clean_env, free_port, processes_of_run

SLEEPER = {"project_id": "demo", "agent_type": "shell", "prompt": "echo up; sleep 600"}


def start_sleeper(server: Server, task_id: str = "t1") -> str:
    status, created = server.request("POST", "/api/v1/tasks", {**SLEEPER, "task_id": task_id})
    assert status == 201, created
    run_id = str(created["run_id"])
    wait_for(lambda: processes_of_run(run_id), 60, f"the agent of {task_id} to run")
    return run_id


def run_status(server: Server, run_id: str) -> str:
    return str(server.request("GET", f"/api/v1/runs/{run_id}")[1]["status"])


def serve_exit(data: Path, port: int, log: Path) -> tuple[int, str]:
    """A `conductor serve` expected to refuse to start: its exit code and output."""
    second = ConductorProcess(
        ["serve", "--port", str(port)], clean_env(CONDUCTOR_DATA_DIR=str(data)), log
    )
    try:
        code = second.popen.wait(60)
    except subprocess.TimeoutExpired:
        second.kill()
        raise
    finally:
        second.terminate()
    return code, second.output()


@pytest.fixture
def agents() -> Iterator[list[str]]:
    """Run ids whose agents are killed after the test, whatever it left running."""
    run_ids: list[str] = []
    yield run_ids
    for run_id in run_ids:
        for pid in processes_of_run(run_id):
            subprocess.run(["kill", "-9", str(pid)], check=False)


def test_a_second_server_on_the_same_data_dir_exits_2_and_leaves_the_first_alone(
    tmp_path: Path, agents: list[str]
) -> None:
    data = tmp_path / "data"
    first = Server(data, tmp_path / "first.log")
    try:
        run_id = start_sleeper(first)
        agents.append(run_id)
        pids = processes_of_run(run_id)

        code, output = serve_exit(data, free_port(), tmp_path / "second.log")

        assert code == 2, output
        assert f"process {first.popen.pid}" in output and str(data) in output
        assert run_status(first, run_id) == "running"
        # still alive (the sleeper may have forked its `sleep` after the first look)
        assert set(pids) <= set(processes_of_run(run_id)), "the agent is alive"
        assert first.request("GET", "/api/v1/health")[0] == 200
    finally:
        first.terminate()


def test_a_port_in_use_fails_the_start_before_anything_is_recovered(
    tmp_path: Path, agents: list[str]
) -> None:
    data = tmp_path / "data"
    server = Server(data, tmp_path / "server.log")
    try:
        run_id = start_sleeper(server)
        agents.append(run_id)
    finally:
        server.kill()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()

        code, output = serve_exit(data, taken.getsockname()[1], tmp_path / "busy-port.log")

    assert code == 2, output
    assert "cannot listen on 127.0.0.1" in output and "in use" in output
    assert processes_of_run(run_id), "the agent was not killed by a start that failed"
    restarted = Server(data, tmp_path / "restart.log")
    try:
        assert run_status(restarted, run_id) == "crashed"
        wait_for(lambda: not processes_of_run(run_id), 30, "the leftover agent killed")
    finally:
        restarted.terminate()


class QuickServer(Server):
    READY_SECONDS = 30.0  # the old start needed 10 s per crashed run: 50 s for these five


def test_a_restart_with_crashed_runs_answers_without_waiting_on_each(
    tmp_path: Path, agents: list[str]
) -> None:
    """Each crashed run used to hold the start for a 10 s publish timeout (five: 50 s)."""
    data = tmp_path / "data"
    server = Server(data, tmp_path / "server.log")
    try:
        agents.extend(start_sleeper(server, f"t{n}") for n in range(5))
    finally:
        server.kill()

    restarted = QuickServer(data, tmp_path / "restart.log", port=server.port)
    try:
        assert {run_status(restarted, run_id) for run_id in agents} == {"crashed"}
    finally:
        restarted.terminate()


def test_a_data_dir_inside_a_git_work_tree_is_warned_about(tmp_path: Path) -> None:
    repo = tmp_path / "dotfiles"
    repo.mkdir()
    git_cli(repo, "init", "-q")
    server = Server(repo / ".conductor", tmp_path / "server.log")
    try:
        output = server.output()
    finally:
        server.terminate()

    assert f"the data dir {repo / '.conductor'} is inside the git work tree {repo}" in output
    assert "--root or CONDUCTOR_DATA_DIR" in output


def test_an_ignored_or_outside_data_dir_is_not_warned_about(tmp_path: Path) -> None:
    repo = tmp_path / "dotfiles"
    repo.mkdir()
    git_cli(repo, "init", "-q")
    (repo / ".gitignore").write_text(".conductor/\n")
    for data in (repo / ".conductor", tmp_path / "data"):
        server = Server(data, tmp_path / f"{data.name}.log")
        server.terminate()
        assert "git work tree" not in server.output()
