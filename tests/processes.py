"""Real Conductor processes for tests: `conductor serve` and `conductor worker`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import wait_for

CONDUCTOR = str(Path(sys.executable).parent / "conductor")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
        and not k.startswith("CONDUCTOR_")
    }
    env.update(extra)
    return env


class ConductorProcess:
    """A `conductor` subprocess whose output goes to a file the test can read."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = log.open("ab")
        self.popen = subprocess.Popen(
            [CONDUCTOR, *args],
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_output(self, text: str, timeout: float = 60) -> None:
        def seen() -> bool:
            assert self.popen.poll() is None, f"process exited early:\n{self.output()}"
            return text in self.output()

        wait_for(seen, timeout, f"{text!r} in the process output")

    def kill(self) -> None:
        """SIGKILL: the process dies without any chance to clean up."""
        self.popen.kill()
        self.popen.wait(30)

    def terminate(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.handle.close()


class Server(ConductorProcess):
    READY_SECONDS = 60.0  # how long the start may take before the test fails
    ARGS: tuple[str, ...] = ()  # more arguments of `conductor serve`

    def __init__(
        self,
        data_dir: Path,
        log: Path,
        port: int | None = None,
        **env: str,
    ) -> None:
        self.port = port or free_port()
        environ = clean_env(
            CONDUCTOR_DATA_DIR=str(data_dir), CONDUCTOR_STOP_GRACE_SECONDS="1", **env
        )
        super().__init__(["serve", "--port", str(self.port), *self.ARGS], environ, log)
        wait_for(self._healthy, self.READY_SECONDS, "the server to answer /api/v1/health")

    def _healthy(self) -> bool:
        assert self.popen.poll() is None, f"server exited:\n{self.output()}"
        try:
            return self.request("GET", "/api/v1/health")[0] == 200
        except OSError:
            return False

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


def processes_of_run(run_id: str) -> list[int]:
    """Live pids whose environment names this run (the agent and its children)."""
    marker = f"CONDUCTOR_RUN_ID={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
                state = (entry / "stat").read_text().split()[2]
            except OSError:
                continue
            if marker in environ.split(b"\0") and state != "Z":
                found.append(int(entry.name))
    return found


def leftovers(folder: Path) -> str:
    """A prompt that leaves three processes: one in the agent's group, one in a session of
    its own (it keeps the run's environment), one in the group without it. Their pids go to
    `folder/pids`, the agent's to `folder/agent`."""
    pids = folder / "pids"
    return (
        f"echo $$ > {folder}/agent; "
        f"sleep 600 & echo $! >> {pids}; "
        f"setsid sleep 600 & echo $! >> {pids}; "
        f"env -u CONDUCTOR_RUN_ID sleep 600 & echo $! >> {pids}; "
        "echo started; "
    )


# The agent lives as long as the process that started it, then exits by itself.
UNTIL_ITS_WORKER_DIES = "parent=$PPID; while kill -0 $parent 2>/dev/null; do sleep 0.05; done"


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def leftover_pids(folder: Path) -> list[int]:
    pids = folder / "pids"
    wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 3, what="the leftovers")
    return [int(pid) for pid in pids.read_text().split()]
