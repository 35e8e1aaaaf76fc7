"""Dev servers (`/api/v1/attempts/{id}/dev-server`): the project's dev-server script, a real
HTTP server, in a real attempt's worktree; its URL, its log, its stop, and what it leaves
alone (the attempt, the board, follow-ups, admission)."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from conductor_site.asgi import application
from projects.models import Project
from runs.dev_server import dev_servers_stop, first_url
from runs.models import Attempt, Run
from tasks.models import Task
from tests.conftest import attempt_finished, create_task, log_text, run_finished, wait_for
from tests.helpers import DEV_SERVER_SCRIPT, assert_error, git_cli
from tests.processes import Server, processes_of_run


@pytest.fixture
def serving(work: str, project: Project) -> Iterator[Project]:
    """A project with a dev server; whatever a test leaves serving is stopped, and ended,
    before its database goes."""
    project.dev_server_script = DEV_SERVER_SCRIPT
    project.save()
    yield project
    for attempt in Attempt.objects.filter(runs__kind="dev_server").distinct():
        dev_servers_stop(attempt)


def finished_attempt(api: APIClient, task_id: str = "t1") -> Attempt:
    created = create_task(api, task_id=task_id, prompt="echo built > built.txt")
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)
    assert attempt.status == "success", attempt.error_summary
    return attempt


@pytest.fixture
def attempt(work: str, api: APIClient, serving: Project) -> Attempt:
    return finished_attempt(api)


def start(api: APIClient, attempt: Attempt) -> dict[str, Any]:
    response = api.post(f"/api/v1/attempts/{attempt.id}/dev-server")
    assert response.status_code == 201, response.content
    return dict(response.json())


def url_of(run_id: str) -> str:
    url: str = wait_for(
        lambda: Run.objects.get(id=run_id).url, 30, f"dev server {run_id} to print its URL"
    )
    return url


def stop(api: APIClient, attempt: Attempt) -> dict[str, Any]:
    response = api.post(f"/api/v1/attempts/{attempt.id}/dev-server/stop")
    assert response.status_code == 200, response.content
    return dict(response.json())


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_dev_server_serves_the_worktree_at_the_url_it_printed_until_stopped(
    attempt: Attempt, api: APIClient
) -> None:
    started = start(api, attempt)

    assert (started["kind"], started["status"], started["attempt_id"]) == (
        "dev_server",
        "running",
        attempt.id,
    )
    url = url_of(started["run_id"])
    assert url.startswith("http://127.0.0.1:") and url.endswith("/")  # 0.0.0.0 made reachable
    assert "built.txt" in fetch(url)  # the agent's work, from its worktree
    assert api.get(f"/api/v1/attempts/{attempt.id}/dev-server").json()["url"] == url
    detail = api.get(f"/api/v1/attempts/{attempt.id}").json()
    assert [r["url"] for r in detail["runs"] if r["kind"] == "dev_server"] == [url]
    wait_for(lambda: "Serving on http://0.0.0.0:" in log_text(started["run_id"], "stdout"))
    pid = Run.objects.get(id=started["run_id"]).pid
    assert pid and not group_gone(pid)

    stopped = stop(api, attempt)

    assert (stopped["run_id"], stopped["status"]) == (started["run_id"], "stopped")
    assert stopped["url"] == url and stopped["ended_at"]
    assert processes_of_run(started["run_id"]) == []
    assert group_gone(pid)


def test_its_log_is_streamed_like_any_runs(attempt: Attempt, api: APIClient) -> None:
    started = start(api, attempt)
    url_of(started["run_id"])
    stop(api, attempt)

    async def session() -> list[dict[str, Any]]:
        client = WebsocketCommunicator(application, f"/ws/runs/{started['run_id']}/logs/")
        assert (await client.connect(10))[0]
        frames = []
        while (message := await client.receive_output(10))["type"] != "websocket.close":
            frames.append(json.loads(message["text"]))
        return frames

    frames = asyncio.run(session())
    assert any("Serving on" in f.get("text", "") for f in frames)
    assert frames[-2:] == [
        {"type": "status", "status": "stopped", "exit_code": frames[-2]["exit_code"]},
        {"type": "done"},
    ]
    listed = api.get("/api/v1/runs", {"kind": "dev_server"}).json()["runs"]
    assert [r["run_id"] for r in listed] == [started["run_id"]]


def test_it_leaves_the_attempt_the_board_and_the_contract_run_lists_alone(
    attempt: Attempt, api: APIClient
) -> None:
    before = api.get("/api/projects/demo/tasks/t1").json()
    column = Task.objects.get(task_id="t1").column
    started = start(api, attempt)
    url_of(started["run_id"])

    during = api.get("/api/projects/demo/tasks/t1").json()
    attempt.refresh_from_db()
    assert attempt.status == "success"
    assert Task.objects.get(task_id="t1").column == column
    assert (during["status"], during["runs"]) == (before["status"], before["runs"])
    assert started["run_id"] not in json.dumps(api.get("/api/projects/demo/runs/flat").json())
    assert api.get("/api/v1/status").json()["active_runs_count"] == 0
    stop(api, attempt)
    assert git_cli(attempt.worktree_path, "status", "--porcelain") == ""  # nothing committed


def test_a_second_start_on_the_same_attempt_is_refused_naming_the_running_one(
    attempt: Attempt, api: APIClient
) -> None:
    started = start(api, attempt)

    body = assert_error(api.post(f"/api/v1/attempts/{attempt.id}/dev-server"), 409, "CONFLICT")

    assert body["details"]["run_id"] == started["run_id"]
    assert started["run_id"] in body["error"] and "dev-server/stop" in body["error"]
    assert Run.objects.filter(attempt=attempt, kind="dev_server").count() == 1
    stop(api, attempt)
    again = start(api, attempt)  # once it ended, a new one starts
    url_of(again["run_id"])
    stop(api, attempt)


def test_two_attempts_serve_at_once(attempt: Attempt, api: APIClient) -> None:
    other = finished_attempt(api, "t2")
    first, second = start(api, attempt), start(api, other)

    urls = {url_of(first["run_id"]), url_of(second["run_id"])}

    assert len(urls) == 2
    assert all("built.txt" in fetch(url) for url in urls)
    assert stop(api, attempt)["status"] == "stopped"
    assert Run.objects.get(id=second["run_id"]).status == "running"
    assert stop(api, other)["status"] == "stopped"


def test_a_follow_up_runs_while_the_dev_server_serves(attempt: Attempt, api: APIClient) -> None:
    started = start(api, attempt)
    url_of(started["run_id"])

    response = api.post(
        f"/api/v1/attempts/{attempt.id}/follow-up", {"prompt": "echo more"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["waiting"] is False
    assert run_finished(response.json()["run_id"]).status == "success"
    assert Run.objects.get(id=started["run_id"]).status == "running"
    stop(api, attempt)


def test_a_dev_server_does_not_count_against_max_concurrent_runs(
    attempt: Attempt, api: APIClient, settings: Settings
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "MAX_CONCURRENT_ROOT_TASKS": 1}
    start(api, attempt)

    created = create_task(api, task_id="t2", prompt="echo next")

    assert created["queue_position"] == 0
    assert run_finished(created["run_id"]).status == "success"
    stop(api, attempt)


def test_stopping_before_an_archive_stops_every_dev_server_of_the_attempt(
    attempt: Attempt, api: APIClient
) -> None:
    started = start(api, attempt)
    url_of(started["run_id"])

    assert dev_servers_stop(attempt) == [started["run_id"]]

    assert Run.objects.get(id=started["run_id"]).status == "stopped"
    assert processes_of_run(started["run_id"]) == []
    assert dev_servers_stop(attempt) == []


def test_archiving_the_worktree_stops_its_dev_server_first(
    attempt: Attempt, api: APIClient
) -> None:
    started = start(api, attempt)
    url_of(started["run_id"])

    response = api.post(f"/api/v1/attempts/{attempt.id}/archive")

    assert response.status_code == 200, response.content
    assert response.json()["archived"]["removed"] is True
    assert Run.objects.get(id=started["run_id"]).status == "stopped"
    assert processes_of_run(started["run_id"]) == []
    assert not Path(attempt.worktree_path).exists()


def test_a_server_that_exits_by_itself_ends_with_its_exit_code(
    attempt: Attempt, api: APIClient, serving: Project
) -> None:
    serving.dev_server_script = "echo 'no port: listen EADDRINUSE https://localhost:3000'; exit 3"
    serving.save()

    started = start(api, attempt)

    run = run_finished(started["run_id"])
    assert (run.status, run.exit_code) == ("failed", 3)
    assert run.url == "https://localhost:3000"
    assert_error(api.post(f"/api/v1/attempts/{attempt.id}/dev-server/stop"), 409, "CONFLICT")


def test_without_a_script_the_error_says_how_to_set_one(
    work: str, api: APIClient, project: Project
) -> None:
    attempt = finished_attempt(api)

    body = assert_error(api.post(f"/api/v1/attempts/{attempt.id}/dev-server"), 409, "CONFLICT")

    assert "no dev-server script" in body["error"] and "dev_server_script" in body["error"]
    assert not Run.objects.filter(kind="dev_server").exists()


def test_a_worktree_that_is_gone_is_a_clear_refusal(attempt: Attempt, api: APIClient) -> None:
    git_cli(attempt.task.project.project_root, "worktree", "remove", attempt.worktree_path)

    body = assert_error(api.post(f"/api/v1/attempts/{attempt.id}/dev-server"), 409, "CONFLICT")

    assert "no longer exists" in body["error"]
    assert body["details"]["worktree_path"] == attempt.worktree_path
    assert not Path(attempt.worktree_path).exists()


@pytest.mark.django_db
def test_unknown_and_invalid_attempts(api: APIClient) -> None:
    for path in ("dev-server", "dev-server/stop"):
        assert_error(api.post(f"/api/v1/attempts/att-nope/{path}"), 404, "NOT_FOUND")
        assert_error(api.post(f"/api/v1/attempts/a%20b/{path}"), 400, "BAD_REQUEST")
    assert_error(api.get("/api/v1/attempts/att-nope/dev-server"), 404, "NOT_FOUND")
    assert_error(api.delete("/api/v1/attempts/att-nope/dev-server"), 405, "METHOD_NOT_ALLOWED")


def test_get_before_any_dev_server_is_a_404(attempt: Attempt, api: APIClient) -> None:
    body = assert_error(api.get(f"/api/v1/attempts/{attempt.id}/dev-server"), 404, "NOT_FOUND")

    assert "never run a dev server" in body["error"]


@pytest.mark.parametrize(
    ("printed", "url"),
    [
        ("  ➜  Local:   http://localhost:5173/\n", "http://localhost:5173/"),
        # Vite colours the port
        (
            "Local: \x1b[36mhttp://localhost:\x1b[1m5173\x1b[22m/\x1b[39m\n",
            "http://localhost:5173/",
        ),
        (
            "Serving HTTP on 0.0.0.0 port 8000 (http://0.0.0.0:8000/) ...\n",
            "http://127.0.0.1:8000/",
        ),
        ("Listening on http://[::]:4000\n", "http://[::1]:4000"),
        (
            "Ready at https://dev.example.test:8443/app?x=1.\n",
            "https://dev.example.test:8443/app?x=1",
        ),
        ("see <http://127.0.0.1:9000/docs>, then\n", "http://127.0.0.1:9000/docs"),
        ("compiling...\nno address yet\n", ""),
        ("ftp://example.test/ and javascript:alert(1)\n", ""),
    ],
)
def test_the_first_url_printed_is_found(printed: str, url: str) -> None:
    assert first_url(printed) == url


def serve_one(server: Server, repo: Path) -> tuple[str, str]:
    """On a real `conductor serve`: a project with a dev server, a finished attempt, its dev
    server started; (the attempt's path, the dev server's pid)."""
    body = {"project_id": "demo", "project_root": str(repo), "dev_server_script": DEV_SERVER_SCRIPT}
    assert server.request("POST", "/api/projects", body)[0] == 201
    task = {"project_id": "demo", "task_id": "t1", "agent_type": "shell", "prompt": "true"}
    assert server.request("POST", "/api/v1/tasks", task)[0] == 201
    attempts = server.request("GET", "/api/v1/attempts?task_id=t1")[1]["items"]
    path = f"/api/v1/attempts/{attempts[0]['attempt_id']}"
    wait_for(lambda: server.request("GET", path)[1]["status"] == "success")
    status, started = server.request("POST", f"{path}/dev-server")
    assert status == 201, started
    wait_for(lambda: server.request("GET", f"{path}/dev-server")[1]["url"])
    return path, started["run_id"]


def test_a_server_shutting_down_stops_its_dev_servers(tmp_path: Path, git_repo: Path) -> None:
    data = tmp_path / "data"
    server = Server(data, tmp_path / "server.log")
    try:
        path, run_id = serve_one(server, git_repo)
        assert processes_of_run(run_id) != []
    finally:
        server.terminate()

    assert processes_of_run(run_id) == []
    restarted = Server(data, tmp_path / "server2.log", port=server.port)
    try:
        run = restarted.request("GET", f"{path}/dev-server")[1]
        assert run["status"] == "stopped" and "shut down" in run["error_summary"]
    finally:
        restarted.terminate()


def test_a_restarted_server_ends_the_dev_server_its_dead_self_left(
    tmp_path: Path, git_repo: Path
) -> None:
    data = tmp_path / "data"
    server = Server(data, tmp_path / "server.log")
    try:
        path, run_id = serve_one(server, git_repo)
        server.kill()
        assert processes_of_run(run_id) != []  # a session of its own: it outlives the server
    finally:
        server.terminate()

    restarted = Server(data, tmp_path / "server2.log", port=server.port)
    try:
        assert restarted.request("GET", f"{path}/dev-server")[1]["status"] == "crashed"
        wait_for(lambda: processes_of_run(run_id) == [], 10, "the dev server to be killed")
        status, again = restarted.request("POST", f"{path}/dev-server")  # not "already runs"
        assert status == 201, again
    finally:
        restarted.terminate()
