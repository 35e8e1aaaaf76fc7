"""The API under load, through a real `conductor serve` (embedded mode, throwaway data dir).

Usage: .venv/bin/python bench/api.py [--messages N] [--writers W] [--tasks T] [--clients C]

1. bus: W client threads POST N messages in all to one project's bus while one SSE client
   follows `/api/v1/messages/stream`; appends/s, and post → SSE delivery latency.
2. task list: T tasks (each with one finished agent run), C client threads reading pages of
   `GET /api/projects/<p>/tasks?limit=50` (and `GET /api/v1/tasks/<t>`); p50/p99 latency.
3. whole list and CPU: one client reading `GET /api/v1/tasks?project_id=<p>` (every task, the
   contract has no paging): the time to its last byte, the server's CPU and RSS growth; then
   the server's own CPU (user + system, from /proc) per page of 50.

`--only lists` skips the bus; `--only whole` measures the whole list alone.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONDUCTOR = str(Path(sys.executable).parent / "conductor")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def embedded_env(data_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return {**env, "CONDUCTOR_DATA_DIR": data_dir}


def start_server(data_dir: str, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [CONDUCTOR, "serve", "--port", str(port)],
        env=embedded_env(data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request(
                "GET", "/api/v1/health"
            )
            return server
        except OSError:
            time.sleep(0.1)
    raise SystemExit("conductor serve did not start")


def call(conn: http.client.HTTPConnection, method: str, path: str, body: object = None) -> object:
    payload = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, payload, {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status >= 400:
        raise SystemExit(f"{method} {path}: {response.status} {data[:200]!r}")
    return json.loads(data) if data else None


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"


def in_threads(count: int, work: Callable[[int], None]) -> float:
    threads = [threading.Thread(target=work, args=(n,)) for n in range(count)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def bus(port: int, messages: int, writers: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    call(
        conn,
        "POST",
        "/api/v1/tasks",
        {"project_id": "bus", "task_id": "t", "agent_type": "shell", "prompt": "true"},
    )
    received: dict[str, float] = {}
    done = threading.Event()

    def follow() -> None:
        stream = http.client.HTTPConnection("127.0.0.1", port)
        stream.request("GET", "/api/v1/messages/stream?project_id=bus&task_id=t")
        response = stream.getresponse()
        while len(received) < messages:
            line = response.fp.readline().decode()
            if line.startswith("data:"):
                body = json.loads(line[5:]).get("body", "")
                if body.startswith("bench "):
                    received[body] = time.perf_counter()
        done.set()

    threading.Thread(target=follow, daemon=True).start()
    time.sleep(0.5)  # the stream is open before the first post
    sent: dict[str, float] = {}

    def write(n: int) -> None:
        client = http.client.HTTPConnection("127.0.0.1", port)
        for i in range(n, messages, writers):
            body = f"bench {i}"
            sent[body] = time.perf_counter()
            call(
                client, "POST", "/api/projects/bus/tasks/t/messages", {"type": "FACT", "body": body}
            )

    elapsed = in_threads(writers, write)
    delivered = done.wait(60)
    latency = [received[b] - sent[b] for b in received]
    print(
        f"bus: {messages} appends from {writers} writers in {elapsed:.2f} s = "
        f"{messages / elapsed:,.0f}/s; delivered by SSE {len(received)}/{messages}"
        f"{'' if delivered else ' (timed out)'}; post → SSE {percentiles(latency)}"
    )


def seed_tasks(data_dir: str, count: int) -> None:
    """Rows straight into the database before the server starts (the pipeline is not measured)."""
    script = f"""
import django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "conductor_site.settings"
django.setup()
from django.utils import timezone
from projects.models import Project
from runs.models import Attempt, Run
from tasks.models import Task
project = Project.objects.create(id="list")
now = timezone.now()
tasks = Task.objects.bulk_create(
    Task(project=project, task_id=f"task-{{n}}", prompt="true", agent_type="shell")
    for n in range({count})
)
attempts = Attempt.objects.bulk_create(
    Attempt(task=task, agent="shell", status="success", admitted_at=now) for task in tasks
)
Run.objects.bulk_create(
    Run(id=f"run-bench-{{n:08d}}", attempt=attempt, status="success", exit_code=0,
        started_at=now, ended_at=now)
    for n, attempt in enumerate(attempts)
)
"""
    subprocess.run([sys.executable, "-c", script], env=embedded_env(data_dir), cwd=ROOT, check=True)


def task_list(port: int, tasks: int, clients: int, requests: int = 50) -> None:
    for label, path in (
        (
            "GET /api/projects/list/tasks?limit=50&offset=<n>",
            "/api/projects/list/tasks?limit=50&offset={n}",
        ),
        ("GET /api/v1/tasks/<t>?project_id=list", "/api/v1/tasks/task-{n}?project_id=list"),
    ):
        samples: list[float] = []

        def read(client: int, path: str = path, samples: list[float] = samples) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port)
            for i in range(requests):
                n = (client * requests + i) * 37 % tasks
                start = time.perf_counter()
                call(conn, "GET", path.format(n=n))
                samples.append(time.perf_counter() - start)

        elapsed = in_threads(clients, read)
        print(
            f"{label}, {tasks:,} tasks, {clients} clients: {len(samples) / elapsed:,.0f} req/s, "
            f"{percentiles(samples)}"
        )


def server_cpu(server: subprocess.Popen[bytes]) -> float:
    """The server's user + system CPU seconds so far (Linux /proc)."""
    fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_rss_mb(server: subprocess.Popen[bytes]) -> float:
    for line in Path(f"/proc/{server.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):  # the peak: what the list made the server hold
            return int(line.split()[1]) / 1024
    return 0.0


def whole_list(server: subprocess.Popen[bytes], port: int, tasks: int, requests: int = 5) -> None:
    """The time to the body's last byte (the client parses it afterwards, untimed), the
    server's CPU per request, and its peak RSS growth."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    path = "/api/v1/tasks?project_id=list"
    call(conn, "GET", "/api/projects/list/tasks?limit=50")  # warm: imports, caches
    before, cpu = server_rss_mb(server), server_cpu(server)
    samples, bodies = [], []
    for _ in range(requests):
        start = time.perf_counter()
        conn.request("GET", path)
        bodies.append(conn.getresponse().read())
        samples.append(time.perf_counter() - start)
    cpu = (server_cpu(server) - cpu) / requests
    assert all(len(json.loads(body)["tasks"]) == tasks for body in bodies)
    print(
        f"GET {path}, {tasks:,} tasks, one client, {requests} requests: "
        f"{percentiles(samples)}, max {max(samples) * 1000:.0f} ms; server CPU "
        f"{cpu * 1000:.0f} ms each; server peak RSS {before:.0f} → {server_rss_mb(server):.0f} MB"
    )


def page_cpu(server: subprocess.Popen[bytes], port: int, tasks: int, pages: int = 400) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for label, path in (
        (
            "GET /api/projects/list/tasks?limit=50&offset=<n>",
            "/api/projects/list/tasks?limit=50&offset={n}",
        ),
        ("GET /api/v1/health", "/api/v1/health"),
    ):
        start = server_cpu(server)
        for i in range(pages):
            call(conn, "GET", path.format(n=i * 37 % max(tasks - 50, 1)))
        used = server_cpu(server) - start
        print(
            f"{label}, one client, {pages} requests: {used / pages * 1000:.1f} ms server CPU each"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument(
        "--only",
        choices=["lists", "whole"],
        help="skip the bus (whole: and all but the whole list)",
    )
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="conductor-bench-")
    port = free_port()
    subprocess.run(
        [CONDUCTOR, "migrate", "--verbosity", "0"], env=embedded_env(data_dir), check=True
    )
    seed_tasks(data_dir, args.tasks)
    server = start_server(data_dir, port)
    try:
        if args.only is None:
            bus(port, args.messages, args.writers)
        whole_list(server, port, args.tasks)
        if args.only != "whole":
            page_cpu(server, port, args.tasks)
            task_list(port, args.tasks, args.clients)
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
