"""Production mode: nothing stays queued or running forever, and no process outlives its run.
A broker that is down or loses its queue delays work, never loses it; a worker killed with
SIGKILL has its runs reaped by the server even when no worker is left; a restarted worker
kills what its dead agents left. Real `conductor serve` and `conductor worker` processes,
PostgreSQL, and a redis-server of the test's own where the test stops it."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from projects.models import Project
from runs.models import Run
from tests.conftest import attempt_finished, create_task, log_text, run_finished, wait_for
from tests.processes import (
    UNTIL_ITS_WORKER_DIES,
    ConductorProcess,
    Server,
    alive,
    leftover_pids,
    leftovers,
)
from tests.production.conftest import PrivateRedis
from tests.runs.test_start_races import RACES, ended, stop_as_it_starts

pytestmark = pytest.mark.production

# Re-send what no worker claimed after 1 s, and reap after 3 s of silence.
QUICK = {"CONDUCTOR_REQUEUE_SECONDS": "1", "CONDUCTOR_HEARTBEAT_TIMEOUT_SECONDS": "3"}
TASK = {"project_id": "demo", "task_id": "t1", "agent_type": "shell", "prompt": "echo hello"}


def test_a_task_created_while_the_broker_is_down_starts_once_it_is_back(
    start_server: Callable[..., Server],
    start_worker: Callable[..., ConductorProcess],
    private_redis: PrivateRedis,
    project: Project,
) -> None:
    server = start_server(REDIS_URL=private_redis.url, **QUICK)
    start_worker(REDIS_URL=private_redis.url, **QUICK)
    private_redis.stop()

    status, created = server.request("POST", "/api/v1/tasks", TASK)

    assert status == 201, created
    assert Run.objects.get(id=created["run_id"]).status == "queued"
    private_redis.start()
    run = run_finished(created["run_id"], 120)
    assert (run.status, log_text(run.id)) == ("success", "hello\n")
    assert attempt_finished(run.attempt_id).status == "success"


def test_a_queue_lost_in_a_broker_restart_is_sent_again(
    start_server: Callable[..., Server],
    start_worker: Callable[..., ConductorProcess],
    private_redis: PrivateRedis,
    project: Project,
) -> None:
    server = start_server(REDIS_URL=private_redis.url, **QUICK)
    status, created = server.request("POST", "/api/v1/tasks", TASK)
    assert status == 201, created

    private_redis.stop()  # nothing is persisted: the queued start is lost
    private_redis.start()
    start_worker(REDIS_URL=private_redis.url, **QUICK)

    assert run_finished(created["run_id"], 120).status == "success"


@pytest.mark.parametrize("another_worker", [False, True], ids=["alone", "with-another"])
def test_the_runs_of_a_killed_worker_are_reaped_even_with_no_worker_left(
    start_server: Callable[..., Server],
    start_worker: Callable[..., ConductorProcess],
    api: APIClient,
    project: Project,
    tmp_path: Path,
    another_worker: bool,
) -> None:
    start_server(**QUICK)
    worker = start_worker(**QUICK)
    created = create_task(api, prompt=leftovers(tmp_path) + UNTIL_ITS_WORKER_DIES)
    pids = leftover_pids(tmp_path)
    if another_worker:
        start_worker(**QUICK)
    try:
        worker.kill()
        killed_at = time.monotonic()
        run = run_finished(created["run_id"], 60)
        print(f"crashed {time.monotonic() - killed_at:.1f}s after the worker died")

        assert run.status == "crashed"
        assert "stopped heartbeating" in run.error_summary
        assert attempt_finished(run.attempt_id).status == "crashed"
        # What still names the run dies even though its agent and worker are gone.
        wait_for(lambda: not alive(pids[0]) and not alive(pids[1]), 10, "the leftovers killed")
    finally:
        for pid in pids:  # the one without the run's environment waits for its worker's host
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_restarted_worker_kills_what_its_dead_agent_left_behind(
    start_worker: Callable[..., ConductorProcess],
    api: APIClient,
    project: Project,
    tmp_path: Path,
) -> None:
    worker = start_worker("phoenix")
    created = create_task(api, prompt=leftovers(tmp_path) + UNTIL_ITS_WORKER_DIES)
    pids = leftover_pids(tmp_path)
    agent = int((tmp_path / "agent").read_text())

    worker.kill()
    wait_for(lambda: not alive(agent), 10, "the agent to exit after its worker")
    assert all(alive(pid) for pid in pids)
    start_worker("phoenix")

    assert run_finished(created["run_id"]).status == "crashed"
    wait_for(lambda: not any(alive(pid) for pid in pids), 10, f"{pids} to be killed")


def test_stopping_or_cancelling_a_task_as_it_starts_never_leaves_it_stuck(
    start_worker: Callable[..., ConductorProcess], api: APIClient, project: Project
) -> None:
    start_worker()
    attempts = [stop_as_it_starts(api, n) for n in range(RACES)]

    for attempt_id in attempts:
        wait_for(lambda: ended(attempt_id), 30, f"attempt {attempt_id} to end")  # noqa: B023
    for n in range(RACES):
        assert api.delete(f"/api/projects/demo/tasks/race-{n}").status_code == 204
