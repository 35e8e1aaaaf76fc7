"""A real `conductor serve` started with chosen flags, environment and config file."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.processes import ConductorProcess, clean_env

Serve = Callable[..., ConductorProcess]


def http_status(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, Message]:
    """The status and headers of one request to a local server, errors included."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers=headers or {}, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def answers(port: int) -> bool:
    try:
        return http_status(port, "/api/v1/health")[0] == 200
    except OSError:
        return False


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """`serve(data_dir, port, *flags, **env)`: a real `conductor serve`, stopped afterwards.

    The port is only where to wait for it: pass `--port` in the flags or set it in the config.
    """
    started: list[ConductorProcess] = []

    def start(data_dir: Path, port: int, *flags: str, **env: str) -> ConductorProcess:
        process = ConductorProcess(
            ["serve", *flags],
            clean_env(CONDUCTOR_DATA_DIR=str(data_dir), **env),
            tmp_path / f"serve-{len(started)}.log",
        )
        started.append(process)

        def up() -> bool:
            assert process.popen.poll() is None, f"server exited:\n{process.output()}"
            return answers(port)

        wait_for(up, 60, "the server to answer")
        return process

    yield start
    for process in started:
        process.terminate()
