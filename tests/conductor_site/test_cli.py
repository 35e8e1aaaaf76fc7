"""The installed `conductor` command, run the way a user runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

CONDUCTOR = Path(sys.executable).parent / "conductor"
TIMEOUT = 60


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    """The user's environment: a data dir of its own, embedded mode, no key, no test settings."""
    dropped = {"REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "CONDUCTOR_API_KEY"}
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    clean["CONDUCTOR_DATA_DIR"] = str(data_dir)
    return clean


def conductor(
    env: dict[str, str], *args: str, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    assert CONDUCTOR.is_file(), f"{CONDUCTOR} is not installed (pip install -e .)"
    return subprocess.run(
        [str(CONDUCTOR), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_help_lists_the_commands(env: dict[str, str]) -> None:
    done = conductor(env, "--help")

    assert done.returncode == 0, done.stderr
    for command in ("serve", "worker", "migrate", "createsuperuser"):
        assert command in done.stdout


def test_no_command_prints_the_help(env: dict[str, str]) -> None:
    done = conductor(env)

    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout and "worker" in done.stdout


def test_serve_help_lists_its_options(env: dict[str, str]) -> None:
    done = conductor(env, "serve", "--help")

    assert done.returncode == 0, done.stderr
    for option in ("--host", "--port", "--root", "--api-key", "--disable-task-start", "--insecure"):
        assert option in done.stdout


def test_serve_refuses_a_public_address_without_a_key(env: dict[str, str]) -> None:
    done = conductor(env, "serve", "--host", "0.0.0.0", "--port", str(free_port()), timeout=30)

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "refus" in done.stderr
    assert "--api-key" in done.stderr
    assert "--insecure" in done.stderr


@pytest.mark.parametrize(
    ("processes", "says"), [("2", "needs production mode"), ("0", "at least 1")]
)
def test_serve_refuses_several_processes_in_embedded_mode(
    env: dict[str, str], processes: str, says: str
) -> None:
    done = conductor(env, "serve", "--port", str(free_port()), "--processes", processes, timeout=30)

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert says in done.stderr


def test_worker_without_redis_url_exits_2_naming_it(env: dict[str, str]) -> None:
    done = conductor(env, "worker", timeout=30)

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "REDIS_URL" in done.stderr


def test_an_unknown_option_is_a_usage_error(env: dict[str, str]) -> None:
    done = conductor(env, "serve", "--no-such-option", timeout=30)

    assert done.returncode == 2
    assert "--no-such-option" in done.stderr


def test_migrate_creates_the_sqlite_database_in_the_data_dir(
    env: dict[str, str], data_dir: Path
) -> None:
    done = conductor(env, "migrate", "--noinput", timeout=120)

    assert done.returncode == 0, (done.stdout, done.stderr)
    database = data_dir / "conductor.sqlite3"
    assert database.is_file() and database.stat().st_size > 0
    again = conductor(env, "migrate", "--noinput", timeout=120)
    assert again.returncode == 0, again.stderr
    assert "No migrations to apply" in again.stdout
