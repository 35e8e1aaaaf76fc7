"""The pipeline through a separate `conductor worker` process, PostgreSQL and Redis; the
test process is the API process."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs.models import Run
from tests.conftest import attempt_finished, create_task, log_text, run_finished, wait_for
from tests.helpers import git_cli
from tests.processes import ConductorProcess, processes_of_run

pytestmark = pytest.mark.production


def test_it_runs_in_production_mode() -> None:
    assert not settings.EMBEDDED
    assert settings.DATABASES["default"]["ENGINE"] == "django_prometheus.db.backends.postgresql"
    assert os.environ["REDIS_URL"]


def test_database_connections_come_from_a_pool(db: None) -> None:
    """Each ASGI request runs in a thread of its own: without the pool it would connect anew."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    pool = getattr(connection, "pool", None)  # the PostgreSQL backend's psycopg pool
    assert pool is not None
    assert (
        pool.max_size == 100
    )  # the server's; a worker's is 10 (tests/production/test_connections.py)


def test_a_worker_process_runs_the_pipeline_to_a_commit(
    start_worker: Callable[..., ConductorProcess],
    api: APIClient,
    project: Project,
    fake_claude: AgentProfile,
    git_repo: Path,
) -> None:
    worker = start_worker()
    project.setup_script = "echo setup"
    project.save()

    created = create_task(
        api,
        agent_type="fake-claude",
        prompt="write feature.txt shipped\nlines 5000\nsummary Ship feature",
    )
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)
    run = Run.objects.get(id=created["run_id"])

    assert (run.status, attempt.status) == ("success", "success"), attempt.error_summary
    assert run.worker == attempt.worker == worker.name  # type: ignore[attr-defined]
    assert git_cli(git_repo, "show", f"{attempt.branch}:feature.txt") == "shipped\n"
    assert git_cli(git_repo, "log", "-1", "--format=%s", attempt.branch).strip() == "Ship feature"
    stdout = log_text(run.id, "stdout")
    assert "".join(f"line {i}\n" for i in range(1, 5001)) in stdout
    assert run.agent_session_id in stdout.splitlines()[0]

    # Deleting the task (from this process) removes the worktree on the worker that owns it.
    assert api.delete("/api/projects/demo/tasks/t1").status_code == 204
    wait_for(lambda: not Path(attempt.worktree_path).exists(), 60, "the worker to remove it")
    assert git_cli(git_repo, "show", f"{attempt.branch}:feature.txt") == "shipped\n"


def test_stop_from_the_api_process_stops_the_agent_in_the_worker(
    start_worker: Callable[..., ConductorProcess],
    api: APIClient,
    project: Project,
    fake_claude: AgentProfile,
) -> None:
    start_worker()
    created = create_task(api, agent_type="fake-claude", prompt="hang")
    wait_for(lambda: "hanging" in log_text(created["run_id"]), 60, "the agent to start")

    response = api.post(f"/api/v1/runs/{created['run_id']}/stop")

    assert (response.status_code, response.json()) == (200, {"status": "stopped"})
    run = run_finished(created["run_id"])
    assert (run.status, run.error_summary) == ("stopped", "stopped by user")
    assert attempt_finished(run.attempt_id).status == "stopped"
    wait_for(lambda: not processes_of_run(run.id), 10, "the agent's processes to be gone")


def test_a_killed_worker_leaves_crashed_runs_and_its_restart_cleans_up(
    start_worker: Callable[..., ConductorProcess],
    api: APIClient,
    project: Project,
) -> None:
    worker = start_worker("crashy")
    created = create_task(api, prompt="for i in 1 2 3; do echo line $i; done; sleep 600")
    wait_for(lambda: "line 3" in log_text(created["run_id"]), 60, "the first lines")
    assert processes_of_run(created["run_id"])

    worker.kill()
    start_worker("crashy")

    run = run_finished(created["run_id"])
    assert run.status == "crashed"
    assert "worker 'crashy' restarted" in run.error_summary
    assert log_text(run.id) == "line 1\nline 2\nline 3\n"
    wait_for(lambda: not processes_of_run(run.id), 10, "the leftover agent to be killed")


def test_a_follow_up_goes_to_the_worker_that_owns_the_worktree(
    start_worker: Callable[..., ConductorProcess],
    api: APIClient,
    project: Project,
) -> None:
    start_worker("left")
    start_worker("right")
    first = run_finished(create_task(api, prompt="echo one > one.txt")["run_id"])
    owner = attempt_finished(first.attempt_id).worker

    for n in range(4):
        followup = create_task(api, attach_mode="resume", prompt=f"echo {n} >> one.txt")
        run = run_finished(followup["run_id"])
        attempt_finished(run.attempt_id)
        assert (run.status, run.worker) == ("success", owner)
