"""How long an embedded `conductor serve` takes to answer after a crash with runs in flight.

Usage: .venv/bin/python bench/restart.py [--runs N]

Starts a real server on a throwaway data dir, starts N shell agents that sleep, waits until
all run, SIGKILLs the server, starts it again on the same data dir and times until
`/api/v1/health` answers (each of those N runs is then `crashed`).
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import CONDUCTOR, call, free_port, server_env


def start(data_dir: str, port: int) -> tuple[subprocess.Popen[bytes], float]:
    """A server, and the seconds until its health route answered."""
    began = time.perf_counter()
    server = subprocess.Popen(
        [CONDUCTOR, "serve", "--port", str(port)],
        env=server_env(data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    while time.perf_counter() - began < 1800:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/api/v1/health")
            if conn.getresponse().status == 200:
                return server, time.perf_counter() - began
        except OSError:
            time.sleep(0.05)
    raise SystemExit("conductor serve did not answer")


def running(conn: http.client.HTTPConnection, run_ids: list[str]) -> int:
    runs = [call(conn, "GET", f"/api/v1/runs/{run_id}") for run_id in run_ids]
    return sum(1 for run in runs if run["status"] == "running")  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    data_dir, port = tempfile.mkdtemp(prefix="conductor-bench-"), free_port()
    server, first = start(data_dir, port)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    run_ids = []
    for n in range(args.runs):
        body = {"project_id": "bench", "task_id": f"t{n}", "agent_type": "shell"}
        started = call(conn, "POST", "/api/v1/tasks", {**body, "prompt": "sleep 600"})
        run_ids.append(started["run_id"])  # type: ignore[index]
    while running(conn, run_ids) < args.runs:
        time.sleep(0.2)
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    restarted, seconds = start(data_dir, port)
    print(f"first start {first:.2f} s; restart with {args.runs} crashed runs {seconds:.2f} s")
    restarted.send_signal(signal.SIGTERM)
    restarted.wait(60)


if __name__ == "__main__":
    main()
