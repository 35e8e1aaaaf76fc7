"""Production mode: a real `conductor worker` process, PostgreSQL and Redis.

Runs when DATABASE_URL and REDIS_URL are set (`.ci/run` sets them); skipped with a reason
otherwise, unless CONDUCTOR_REQUIRE_PRODUCTION is set, which turns the skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import skip_unless_available
from tests.processes import ConductorProcess, clean_env

PRODUCTION = bool(os.getenv("DATABASE_URL") and os.getenv("REDIS_URL"))
REASON = "production-mode tests need DATABASE_URL (PostgreSQL) and REDIS_URL (Redis)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip_unless_available(
        items, "tests/production", PRODUCTION, "CONDUCTOR_REQUIRE_PRODUCTION", REASON
    )


def _worker_env(name: str) -> dict[str, str]:
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return clean_env(
        DATABASE_URL=f"{url}/{db['NAME']}",
        REDIS_URL=str(os.environ["REDIS_URL"]),
        CONDUCTOR_DATA_DIR=str(settings.DATA_DIR),
        CONDUCTOR_WORKTREE_ROOT=str(settings.CONDUCTOR["WORKTREE_ROOT"]),
        CONDUCTOR_STOP_GRACE_SECONDS="1",
        CONDUCTOR_HEARTBEAT_SECONDS="0.5",
    )


@pytest.fixture
def start_worker(
    transactional_db: None, tmp_path: Path
) -> Iterator[Callable[..., ConductorProcess]]:
    """Start `conductor worker --name NAME`; every worker is stopped after the test."""
    started: list[ConductorProcess] = []

    def start(name: str = "") -> ConductorProcess:
        name = name or f"w-{uuid.uuid4().hex[:8]}"
        log = tmp_path / f"{name}-{len(started)}.log"
        worker = ConductorProcess(["worker", "--name", name], _worker_env(name), log)
        worker.name = name  # type: ignore[attr-defined]
        started.append(worker)
        worker.wait_output(" ready.")
        return worker

    yield start
    for worker in started:
        worker.terminate()
