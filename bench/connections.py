"""How many PostgreSQL connections one production worker holds while N runs are alive at once.

Usage: DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python bench/connections.py
       [--runs N] [--sequential S] [--connection-limit L]

Starts a production `conductor serve` (it migrates the database) and one `conductor worker`
on a throwaway data dir, then N shell agents that each wait until all N have started (so all
are alive together), print and exit. Every 20 ms it counts the worker's sessions in
`pg_stat_activity` (by application_name, which PGAPPNAME sets for code that does not name its
connections). Then S runs of `true` one after another: the wall time from POST to `success`,
which carries any cost per run of taking a connection from the pool again.

With `--connection-limit L`, Conductor runs as a new role that may hold L connections, on a new
database (both dropped afterwards): what is left to it when another client holds the rest of
PostgreSQL's max_connections. A role's limit binds only that role, so on a shared server
nobody else is starved (DATABASE_URL must then be a superuser's).
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import CONDUCTOR, call, free_port

ENDED = ("success", "failed", "stopped", "crashed")


def production_env(data_dir: str, database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "CONDUCTOR_DATA_DIR": data_dir, **extra}


@contextmanager
def limited_database(admin_url: str, limit: int) -> Iterator[str]:
    """The URL of a new database owned by a new role that may hold `limit` connections."""
    name = f"conductor_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {name} LOGIN CONNECTION LIMIT {limit}")
        admin.execute(f"CREATE DATABASE {name} OWNER {name}")
    url = urlparse(admin_url)
    try:
        yield url._replace(netloc=f"{name}@{url.hostname}:{url.port or 5432}", path=name).geturl()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
            admin.execute(f"DROP ROLE {name}")


def start(args: list[str], env: dict[str, str], log: Path, ready: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [CONDUCTOR, *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120
    while ready not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{args[0]} did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
    return process


def barrier(folder: Path, runs: int) -> str:
    count = f"$(ls {folder} | wc -l)"
    return (
        f'touch {folder}/"$CONDUCTOR_RUN_ID"; '
        f"for i in $(seq 1200); do [ {count} -ge {runs} ] && break; sleep 0.1; done; "
        f'echo "together: {count}"; [ {count} -ge {runs} ]'
    )


class Sampler(threading.Thread):
    """The most sessions `application_name` held at once, sampled every 20 ms."""

    def __init__(self, application_name: str) -> None:
        super().__init__(daemon=True)
        self.name_, self.peak, self.done = application_name, 0, threading.Event()

    def run(self) -> None:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            while not self.done.wait(0.02):
                row = conn.execute(query, [self.name_]).fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)


def post_task(conn: http.client.HTTPConnection, project: str, task: str, prompt: str) -> str:
    body = {"project_id": project, "task_id": task, "agent_type": "shell", "prompt": prompt}
    return str(call(conn, "POST", "/api/v1/tasks", body)["run_id"])  # type: ignore[index]


def statuses(conn: http.client.HTTPConnection, run_ids: list[str]) -> list[str]:
    return [str(call(conn, "GET", f"/api/v1/runs/{r}")["status"]) for r in run_ids]  # type: ignore[index]


def together(conn: http.client.HTTPConnection, project: str, runs: int, app: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="conductor-bench-barrier-"))
    sampler = Sampler(app)
    sampler.start()
    began = time.perf_counter()
    run_ids = [post_task(conn, project, f"t{n}", barrier(folder, runs)) for n in range(runs)]
    found = statuses(conn, run_ids)
    while not all(status in ENDED for status in found):
        time.sleep(0.2)
        found = statuses(conn, run_ids)
    elapsed = time.perf_counter() - began
    sampler.done.set()
    sampler.join()
    ok = found.count("success")
    print(f"{runs} runs at once: {ok} succeeded, all ended in {elapsed:.1f} s; ", end="")
    if failed := [r for r, status in zip(run_ids, found, strict=True) if status != "success"]:
        run = call(conn, "GET", f"/api/v1/runs/{failed[0]}")
        print(f"the first failure: {run}; ", end="")
    print(f"the worker held at most {sampler.peak} PostgreSQL connections")


def one_by_one(conn: http.client.HTTPConnection, project: str, count: int) -> None:
    times = []
    for n in range(count):
        began = time.perf_counter()
        run_id = post_task(conn, project, f"s{n}", "true")
        while statuses(conn, [run_id])[0] not in ENDED:
            time.sleep(0.01)
        times.append(time.perf_counter() - began)
    print(f"{count} runs of `true` one after another: POST → ended median ", end="")
    print(f"{statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, ", end="")
    print(f"max {max(times) * 1000:.0f})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--sequential", type=int, default=20)
    parser.add_argument("--connection-limit", type=int, default=0)
    args = parser.parse_args()
    admin_url = os.getenv("DATABASE_URL", "")
    if not (admin_url and os.getenv("REDIS_URL")):
        raise SystemExit("set DATABASE_URL (PostgreSQL) and REDIS_URL: this is production mode")
    if not args.connection_limit:
        bench(args, admin_url)
        return
    with limited_database(admin_url, args.connection_limit) as database_url:
        print(f"Conductor may hold {args.connection_limit} connections in all")
        bench(args, database_url)


def bench(args: argparse.Namespace, database_url: str) -> None:
    data_dir = tempfile.mkdtemp(prefix="conductor-bench-")
    port, name = free_port(), f"bench-{uuid.uuid4().hex[:8]}"
    app = f"conductor worker {name}"
    server = start(
        ["serve", "--port", str(port)],
        production_env(data_dir, database_url),
        Path(data_dir, "serve.log"),
        "on http",
    )
    worker = start(
        ["worker", "--name", name],
        production_env(data_dir, database_url, PGAPPNAME=app),
        Path(data_dir, "worker.log"),
        " ready.",
    )
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        together(conn, f"bench-{name}", args.runs, app)
        one_by_one(conn, f"bench-{name}", args.sequential)
    finally:
        for process in (worker, server):
            process.terminate()
            process.wait(60)


if __name__ == "__main__":
    main()
