"""Production mode: a worker's PostgreSQL connections do not grow with its runs. Its threads
give their connection back to the pool before each long wait, so 50 agents alive at once are
served by a pool of ten connections. A real `conductor worker`, PostgreSQL and Redis."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.test import APIClient

from projects.models import Project
from runs.models import TERMINAL_STATUSES, Run
from tests.conftest import create_task, log_text, wait_for
from tests.processes import CONDUCTOR, ConductorProcess
from tests.production.conftest import _worker_env

pytestmark = pytest.mark.production

RUNS = 50
POOL_SIZE = 10  # a worker's default (CONDUCTOR_WORKER_DB_CONNECTIONS)


def barrier(folder: Path, runs: int) -> str:
    """A shell agent that says it started, then waits (two minutes at most) until `runs`
    agents have, so every run is alive at once; it fails if they never all were."""
    count = f"$(ls {folder} | wc -l)"
    return (
        f'touch {folder}/"$CONDUCTOR_RUN_ID"; '
        f"for i in $(seq 1200); do [ {count} -ge {runs} ] && break; sleep 0.1; done; "
        f'echo "together: {count}"; [ {count} -ge {runs} ]'
    )


def held_by(application_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [application_name],
        )
        return int(cursor.fetchone()[0])


def test_fifty_runs_at_once_hold_at_most_ten_connections(
    start_worker: Callable[..., ConductorProcess],
    api: APIClient,
    project: Project,
    tmp_path: Path,
) -> None:
    worker = start_worker()
    name = f"conductor worker {worker.name}"  # type: ignore[attr-defined]
    folder = tmp_path / "started"
    folder.mkdir()
    run_ids = [
        create_task(api, task_id=f"t{n}", prompt=barrier(folder, RUNS))["run_id"]
        for n in range(RUNS)
    ]
    peak = 0

    def all_ended() -> bool:
        nonlocal peak
        peak = max(peak, held_by(name))
        ended = Run.objects.filter(id__in=run_ids, status__in=TERMINAL_STATUSES)
        return ended.count() == RUNS

    wait_for(all_ended, 280, f"{RUNS} runs to end")

    runs = Run.objects.filter(id__in=run_ids)
    failed = {run.id: (run.status, run.error_summary) for run in runs if run.status != "success"}
    assert not failed, failed
    assert all(f"together: {RUNS}" in log_text(run_id) for run_id in run_ids)
    assert 0 < peak <= POOL_SIZE, peak


def test_a_worker_with_no_connections_allowed_refuses_to_start(tmp_path: Path) -> None:
    env = _worker_env(CONDUCTOR_WORKER_DB_CONNECTIONS="0")
    done = subprocess.run(
        [CONDUCTOR, "worker", "--name", "none"], env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode != 0
    assert "CONDUCTOR_WORKER_DB_CONNECTIONS must be at least 1, not 0" in done.stderr
