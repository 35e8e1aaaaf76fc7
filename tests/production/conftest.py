"""Production mode: a real `conductor worker` process, PostgreSQL and Redis.

Runs when DATABASE_URL and REDIS_URL are set (`.ci/run` sets them); skipped with a reason
otherwise, unless CONDUCTOR_REQUIRE_PRODUCTION is set, which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from tests.conftest import skip_unless_available, wait_for
from tests.processes import ConductorProcess, Server, clean_env

PRODUCTION = bool(os.getenv("DATABASE_URL") and os.getenv("REDIS_URL"))
REASON = "production-mode tests need DATABASE_URL (PostgreSQL) and REDIS_URL (Redis)"
# The port of the redis-server a test may stop (tests that run at once need different ones).
PRIVATE_REDIS_PORT = int(os.getenv("CONDUCTOR_TEST_REDIS_PORT", "6392"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip_unless_available(
        items, "tests/production", PRODUCTION, "CONDUCTOR_REQUIRE_PRODUCTION", REASON
    )


def database_url() -> str:
    """The test database, for the Conductor processes a test starts."""
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"{url}/{db['NAME']}"


def _worker_env(**extra: str) -> dict[str, str]:
    return clean_env(
        **{
            "DATABASE_URL": database_url(),
            "REDIS_URL": str(os.environ["REDIS_URL"]),
            "CONDUCTOR_DATA_DIR": str(settings.DATA_DIR),
            "CONDUCTOR_WORKTREE_ROOT": str(settings.CONDUCTOR["WORKTREE_ROOT"]),
            "CONDUCTOR_STOP_GRACE_SECONDS": "1",
            "CONDUCTOR_HEARTBEAT_SECONDS": "0.5",
            **extra,
        }
    )


@pytest.fixture
def start_worker(
    transactional_db: None, tmp_path: Path
) -> Iterator[Callable[..., ConductorProcess]]:
    """Start `conductor worker --name NAME` (`env` over the usual environment); every worker
    is stopped after the test."""
    started: list[ConductorProcess] = []

    def start(name: str = "", **env: str) -> ConductorProcess:
        name = name or f"w-{uuid.uuid4().hex[:8]}"
        log = tmp_path / f"{name}-{len(started)}.log"
        worker = ConductorProcess(["worker", "--name", name], _worker_env(**env), log)
        worker.name = name  # type: ignore[attr-defined]
        started.append(worker)
        worker.wait_output(" ready.")
        return worker

    yield start
    for worker in started:
        worker.terminate()


@pytest.fixture
def start_server(transactional_db: None, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start a production-mode `conductor serve` (a `Server` subclass may add arguments) on
    the test database (`env` over the workers' environment); each is stopped after the test."""
    started: list[Server] = []

    def start(server_class: type[Server] = Server, **env: str) -> Server:
        environ = {
            "DATABASE_URL": database_url(),
            "REDIS_URL": str(os.environ["REDIS_URL"]),
            "CONDUCTOR_WORKTREE_ROOT": str(settings.CONDUCTOR["WORKTREE_ROOT"]),
            "CONDUCTOR_HEARTBEAT_SECONDS": "0.5",
            **env,
        }
        log = tmp_path / f"server-{len(started)}.log"
        server = server_class(settings.DATA_DIR, log, None, **environ)
        started.append(server)
        return server

    yield start
    for server in started:
        server.terminate()


class PrivateRedis:
    """A redis-server of the test's own, which the test may stop and start again: the
    shared one is never touched. Nothing is persisted, so a restart loses every queue."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
            ],
            check=True,
            capture_output=True,
        )
        wait_for(self._answers, 10, f"redis-server on port {self.port}")

    def stop(self) -> None:
        with suppress(redis.exceptions.ConnectionError):
            self._client().shutdown(nosave=True)
        wait_for(lambda: not self._answers(), 10, f"redis-server on port {self.port} to stop")

    def _client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=1)

    def _answers(self) -> bool:
        try:
            return bool(self._client().ping())
        except redis.exceptions.ConnectionError:
            return False


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        if os.getenv("CONDUCTOR_REQUIRE_PRODUCTION"):
            pytest.fail("CONDUCTOR_REQUIRE_PRODUCTION is set but redis-server is missing")
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(PRIVATE_REDIS_PORT)
    server.start()
    yield server
    server.stop()
