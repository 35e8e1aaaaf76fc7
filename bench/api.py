"""The API under load, through a real `conductor serve` (throwaway data dir).

Usage: .venv/bin/python bench/api.py [--messages N] [--writers W] [--tasks T] [--clients C]
    [--only bus|lists|rates] [--database-url URL --redis-url URL] [--processes N]

Embedded mode (SQLite) unless `--database-url` and `--redis-url` are given: then production
mode on that database, which the bench empties first (give it one of its own), with
`conductor serve --processes N`. Server CPU is the sum over the server's processes.

1. bus: W client threads POST N messages in all to one project's bus while one SSE client
   follows `/api/v1/messages/stream`; appends/s, and post → SSE delivery latency.
2. task list: T tasks (each with one finished agent run), C client threads reading pages of
   `GET /api/projects/<p>/tasks?limit=50` (and `GET /api/v1/tasks/<t>`); p50/p99 latency.
3. whole list and CPU: one client reading `GET /api/v1/tasks?project_id=<p>` (every task, the
   contract has no paging): the time to its last byte, the server's CPU and RSS growth; then
   the server's own CPU (user + system, from /proc) per page of 50.

4. rates: requests per server core-second (server CPU from /proc, `--clients` closed-loop
   clients) for `GET /api/v1/health`, a task page and a bus append; then the task page at
   200 requests/s offered, open loop (each request sent at its scheduled time, latency from
   that time, so a slow server cannot slow the schedule).

`--only bus|lists|whole|rates` runs one part (whole: the whole list alone).
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
from contextlib import suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TASK_PAGE = "/api/projects/list/tasks?limit=50&offset={n}"
CONDUCTOR = str(Path(sys.executable).parent / "conductor")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: str, database_url: str = "", redis_url: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    urls = {"DATABASE_URL": database_url, "REDIS_URL": redis_url} if database_url else {}
    return {**env, **urls, "CONDUCTOR_DATA_DIR": data_dir}


class Server:
    """`conductor serve` (with `--processes N` in production mode) and its CPU and memory."""

    def __init__(self, env: dict[str, str], port: int, processes: int) -> None:
        extra = ["--processes", str(processes)] if processes > 1 else []
        self.process = subprocess.Popen(
            [CONDUCTOR, "serve", "--port", str(port), *extra],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(300):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request(
                    "GET", "/api/v1/health"
                )
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("conductor serve did not start")

    def pids(self) -> list[int]:
        pids = [self.process.pid]
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            with suppress(FileNotFoundError):  # a thread that ended meanwhile
                pids += [int(pid) for pid in (task / "children").read_text().split()]
        return pids

    def cpu(self, own: bool = False) -> float:
        """The server's user + system CPU seconds so far, all its processes (Linux /proc; a
        child that ended meanwhile is left out), or its own process alone (`own`: not the
        agents an embedded server runs)."""
        total = 0
        for pid in [self.process.pid] if own else self.pids():
            with suppress(FileNotFoundError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):  # the peak: what the list made the server hold
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


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


def bus(server: Server, port: int, messages: int, writers: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    call(
        conn,
        "POST",
        "/api/v1/tasks",
        {"project_id": "bus", "task_id": "t", "agent_type": "shell", "prompt": "true"},
    )
    received: dict[str, float] = {}
    order: list[tuple[str, str]] = []  # (msg_id, body) as the subscriber got them
    done = threading.Event()

    def follow() -> None:
        stream = http.client.HTTPConnection("127.0.0.1", port)
        stream.request("GET", "/api/v1/messages/stream?project_id=bus&task_id=t")
        response = stream.getresponse()
        while len(received) < messages:
            line = response.fp.readline().decode()
            if line.startswith("data:"):
                item = json.loads(line[5:])
                if item.get("body", "").startswith("bench "):
                    received[item["body"]] = time.perf_counter()
                    order.append((item["msg_id"], item["body"]))
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

    cpu, client_cpu = server.cpu(), time.process_time()
    elapsed = in_threads(writers, write)
    delivered = done.wait(60)
    cpu, client_cpu = server.cpu() - cpu, time.process_time() - client_cpu
    latency = [received[b] - sent[b] for b in received]
    print(
        f"bus: {messages} appends from {writers} writers in {elapsed:.2f} s = "
        f"{messages / elapsed:,.0f}/s; delivered live by SSE {len(received)}/{messages}"
        f"{'' if delivered else ' (timed out)'}, in order: {in_order(order, writers)}; "
        f"post → SSE {percentiles(latency)}; server CPU {cpu / messages * 1000:.2f} ms "
        f"an append = {messages / cpu:,.0f} appends per server core-second; the clients' "
        f"CPU {client_cpu / messages * 1000:.2f} ms an append"
    )


def in_order(order: list[tuple[str, str]], writers: int) -> bool:
    """Msg_ids strictly ascending as delivered, and each writer's posts in the order sent."""
    ids = [msg_id for msg_id, _ in order]
    last: dict[int, int] = {}
    for _, body in order:
        i = int(body.split()[1])
        if last.get(i % writers, -1) > i:
            return False
        last[i % writers] = i
    return ids == sorted(set(ids))


def seed_tasks(env: dict[str, str], count: int) -> None:
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
attempts = Attempt.objects.bulk_create(  # ids of our own: 10,000 random ones can collide
    Attempt(id=f"att-bench-{{n:08d}}", task=task, agent="shell", status="success",
        admitted_at=now)
    for n, task in enumerate(tasks)
)
Run.objects.bulk_create(
    Run(id=f"run-bench-{{n:08d}}", attempt=attempt, status="success", exit_code=0,
        started_at=now, ended_at=now)
    for n, attempt in enumerate(attempts)
)
"""
    subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True)


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


def whole_list(server: Server, port: int, tasks: int, requests: int = 5) -> None:
    """The time to the body's last byte (the client parses it afterwards, untimed), the
    server's CPU per request, and its peak RSS growth."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    path = "/api/v1/tasks?project_id=list"
    call(conn, "GET", "/api/projects/list/tasks?limit=50")  # warm: imports, caches
    before, cpu = server.rss_mb(), server.cpu()
    samples, bodies = [], []
    for _ in range(requests):
        start = time.perf_counter()
        conn.request("GET", path)
        bodies.append(conn.getresponse().read())
        samples.append(time.perf_counter() - start)
    cpu = (server.cpu() - cpu) / requests
    assert all(len(json.loads(body)["tasks"]) == tasks for body in bodies)
    print(
        f"GET {path}, {tasks:,} tasks, one client, {requests} requests: "
        f"{percentiles(samples)}, max {max(samples) * 1000:.0f} ms; server CPU "
        f"{cpu * 1000:.0f} ms each; server peak RSS {before:.0f} → {server.rss_mb():.0f} MB"
    )


def page_cpu(server: Server, port: int, tasks: int, pages: int = 400) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for label, path in (
        (
            "GET /api/projects/list/tasks?limit=50&offset=<n>",
            "/api/projects/list/tasks?limit=50&offset={n}",
        ),
        ("GET /api/v1/health", "/api/v1/health"),
    ):
        start = server.cpu()
        for i in range(pages):
            call(conn, "GET", path.format(n=i * 37 % max(tasks - 50, 1)))
        used = server.cpu() - start
        print(
            f"{label}, one client, {pages} requests: {used / pages * 1000:.1f} ms server CPU each"
        )


RATE_PATHS = (
    ("GET /api/v1/health", "GET", "/api/v1/health"),
    ("GET /api/projects/<p>/tasks?limit=50&offset=<n>", "GET", TASK_PAGE),
    ("POST /api/projects/<p>/tasks/<t>/messages", "POST", "/api/projects/bus/tasks/t/messages"),
)


def rates(server: Server, port: int, tasks: int, clients: int, requests: int) -> None:
    """Requests per server core-second: what one core of server serves of each route."""
    for label, method, path in RATE_PATHS:
        body = {"type": "FACT", "body": "rate"} if method == "POST" else None

        def work(client: int, path: str = path, method: str = method, body: Any = body) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port)
            for i in range(client, requests, clients):
                call(conn, method, path.format(n=i * 37 % max(tasks - 50, 1)), body)

        start = server.cpu()
        elapsed = in_threads(clients, work)
        used = server.cpu() - start
        print(
            f"{label}, {clients} clients, {requests} requests: {requests / elapsed:,.0f} req/s, "
            f"server CPU {used / requests * 1000:.2f} ms each = "
            f"{requests / used:,.0f} requests per server core-second"
        )


def open_loop(port: int, tasks: int, rate: float = 200, seconds: float = 10) -> None:
    """The task page at `rate` requests/s offered, whatever the answers' speed."""
    count = int(rate * seconds)
    start = time.perf_counter() + 0.5
    latencies: list[float] = []
    slots = iter(range(count))
    lock = threading.Lock()

    def work(_: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        while True:
            with lock:
                n = next(slots, None)
            if n is None:
                return
            due = start + n / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            call(conn, "GET", TASK_PAGE.format(n=n * 37 % max(tasks - 50, 1)))
            latencies.append(time.perf_counter() - due)

    in_threads(64, work)
    print(
        f"GET /api/projects/<p>/tasks?limit=50 at {rate:.0f} requests/s offered (open loop), "
        f"{count} requests: {percentiles(latencies)}, max {max(latencies) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--only", choices=["bus", "lists", "whole", "rates"], help="run one part")
    parser.add_argument("--database-url", default="", help="production mode: this database")
    parser.add_argument("--redis-url", default="", help="production mode: this Redis")
    parser.add_argument("--processes", type=int, default=1, help="server processes")
    parser.add_argument("--requests", type=int, default=2000, help="rates: requests per route")
    args = parser.parse_args()
    if bool(args.database_url) != bool(args.redis_url):
        raise SystemExit("production mode needs both --database-url and --redis-url")
    env = server_env(tempfile.mkdtemp(prefix="conductor-bench-"), args.database_url, args.redis_url)
    port = free_port()
    subprocess.run([CONDUCTOR, "migrate", "--verbosity", "0"], env=env, check=True)
    if args.database_url:
        subprocess.run([CONDUCTOR, "manage", "flush", "--no-input"], env=env, check=True)
    seed_tasks(env, args.tasks)
    server = Server(env, port, args.processes)
    try:
        if args.only in (None, "bus"):
            bus(server, port, args.messages, args.writers)
        if args.only in (None, "lists", "whole"):
            whole_list(server, port, args.tasks)
        if args.only in (None, "lists"):
            page_cpu(server, port, args.tasks)
            task_list(port, args.tasks, args.clients)
        if args.only in (None, "rates"):
            rates(server, port, args.tasks, args.clients, args.requests)
            open_loop(port, args.tasks)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
