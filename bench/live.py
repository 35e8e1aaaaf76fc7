"""Line latency from an agent's print to a WebSocket and an SSE client, through a real
`conductor serve` (issue 10 §6; DESIGN.md §8).

Usage: .venv/bin/python bench/live.py [--rounds R] [--only quiet|fifty|viewers]
    [--seconds S] [--database-url URL --redis-url URL]

Embedded mode (SQLite, in-process worker) unless `--database-url` and `--redis-url` are given:
then production mode, with a separate `conductor worker` process and the Redis channel layer
(the database is emptied first: give the bench one of its own).

Each agent is a Python script that waits until every client is connected, then prints lines
`<run> <n> <time_ns>` at a fixed rate (in bursts every 10 ms); a client's latency for a line is
its arrival time minus the time printed in it (one machine, one clock). Every client checks
that it got each line of its run exactly once, in order.

1. quiet: one run printing a lone line every 100 ms (50 lines), one WebSocket and one SSE
   client: the latency when nothing else is happening (no batching should be felt).
2. fifty: 50 runs x 1,000 lines/s for S seconds, one WebSocket and one SSE client per run.
3. viewers: one run at 1,000 lines/s for S seconds, 200 WebSocket clients, one of which
   stops reading at once (a small receive buffer, never read until the run ended): the other
   199 must get everything, unslowed; the stalled one gets `lagged`, then everything.

Prints p50 / p99 / max per case and client kind, per round, with the load average before and
after (the machine is shared: state it next to every figure).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import CONDUCTOR, Server, free_port, server_env

AGENT = """import os, sys, time
run, rate, count, go = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
while not os.path.exists(go):
    time.sleep(0.005)
per = max(1, int(rate * 0.01))
start, n = time.monotonic(), 0
while n < count:
    for _ in range(min(per, count - n)):
        n += 1
        sys.stdout.write(f"{run} {n} {time.time_ns()}\\n")
    sys.stdout.flush()
    pause = start + n / rate - time.monotonic()
    if pause > 0:
        time.sleep(pause)
"""


class Viewer:
    """One client's record: the line numbers it got, in order, and each one's latency."""

    def __init__(self, kind: str, run: str) -> None:
        self.kind, self.run = kind, run
        self.numbers: list[int] = []
        self.latencies: list[float] = []
        self.lagged = 0
        self.connected = False
        self.release = False  # a stalled viewer starts reading once this is set
        self.dropped = False  # the server closed it without a close frame

    def line(self, text: str, now_ns: int) -> None:
        _, number, sent = text.split()
        self.numbers.append(int(number))
        self.latencies.append((now_ns - int(sent)) / 1e9)

    def check(self, count: int) -> str:
        if self.numbers == list(range(1, count + 1)):
            return ""
        dupes = len(self.numbers) - len(set(self.numbers))
        return f"{self.kind} {self.run}: {len(set(self.numbers))}/{count} lines, {dupes} twice"


async def follow_ws(port: int, run_id: str, viewer: Viewer, stalled: bool = False) -> None:
    url = f"ws://127.0.0.1:{port}/ws/runs/{run_id}/logs/"
    sock = socket.socket()
    if stalled:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    async with websockets.connect(
        url, sock=sock, max_size=None, max_queue=1 if stalled else 64, ping_interval=None
    ) as ws:
        viewer.connected = True
        if stalled:
            while not viewer.release:
                await asyncio.sleep(0.05)
        try:
            async for frame in ws:
                data = json.loads(frame)
                if data["type"] == "log":  # a stored chunk's lines a frame
                    now = time.time_ns()
                    for line in data["text"].split("\n")[:-1]:
                        viewer.line(line, now)
                elif data["type"] == "lagged":
                    viewer.lagged += 1
        except websockets.ConnectionClosed:
            viewer.dropped = True


async def follow_sse(port: int, run_id: str, viewer: Viewer) -> None:
    """An HTTP/1.0 request: the response is the event stream itself, not chunked."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 24)
    writer.write(f"GET /api/v1/runs/{run_id}/stream HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    viewer.connected = True
    buffer = b""
    while piece := await reader.read(1 << 20):
        now = time.time_ns()
        lines = (buffer + piece).split(b"\n")
        buffer = lines.pop()
        for line in lines:
            if line.startswith(b'data: {"type":"log"'):
                viewer.line(json.loads(line[6:])["line"], now)
            elif line.startswith(b'data: {"type":"done"'):
                writer.close()
                return
    writer.close()


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    if not ordered:
        return "no lines"
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"p50 {statistics.median(ordered) * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  "
        f"max {ordered[-1] * 1000:7.1f} ms  ({len(ordered)} lines)"
    )


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Bench:
    def __init__(self, server: Server, port: int, work: Path, processes: int) -> None:
        self.server, self.port, self.work, self.processes = server, port, work, processes
        self.agent = work / "agent.py"
        self.agent.write_text(AGENT)
        self.tasks = 0

    def api(self, method: str, path: str, body: object = None) -> Any:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, payload, {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        if response.status >= 400:
            raise SystemExit(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data) if data else None

    def start_runs(self, count: int, rate: float, lines: int, go: Path) -> list[str]:
        runs = []
        for n in range(count):
            self.tasks += 1
            prompt = f"exec python3 {self.agent} r{n} {rate} {lines} {go}"
            task = {"project_id": "live", "task_id": f"t{self.tasks}", "agent_type": "shell"}
            runs.append(self.api("POST", "/api/v1/tasks", {**task, "prompt": prompt})["run_id"])
        deadline = time.monotonic() + 120
        for run_id in runs:
            while self.api("GET", f"/api/v1/runs/{run_id}/info")["status"] != "running":
                if time.monotonic() > deadline:
                    raise SystemExit(f"run {run_id} did not start")
                time.sleep(0.05)
        return runs

    def case(self, count: int, rate: float, lines: int, ws: int, sse: int, stall: bool) -> None:
        go = self.work / f"go-{self.tasks}"
        runs = self.start_runs(count, rate, lines, go)
        viewers = [Viewer("ws", r) for r in runs for _ in range(ws)]
        viewers += [Viewer("sse", r) for r in runs for _ in range(sse)]
        if stall:
            viewers.append(Viewer("stalled", runs[0]))
        before, cpu, wall = load(), self.server.cpu(own=True), time.monotonic()
        own = resource.getrusage(resource.RUSAGE_CHILDREN)
        viewers = watch(self.port, viewers, go, self.processes)
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        clients_cpu = used.ru_utime + used.ru_stime - own.ru_utime - own.ru_stime
        problems = [p for v in viewers if not v.dropped and (p := v.check(lines))]
        print(
            f"  load average before {before}, after {load()}; {time.monotonic() - wall:.1f} s "
            f"wall, server CPU {self.server.cpu(own=True) - cpu:.1f} s (its own process, not "
            f"the agents'), clients' CPU {clients_cpu:.1f} s"
        )
        for kind in ("ws", "sse"):
            samples = [s for v in viewers if v.kind == kind for s in v.latencies]
            if samples:
                print(f"  {kind:4} {summary(samples)}")
        for v in viewers:
            if v.kind == "stalled":
                fate = "dropped by the server" if v.dropped else "read on"
                print(f"  stalled client: {v.lagged} lagged, {fate}, {len(v.numbers)} lines")
        dropped = sum(v.dropped for v in viewers if v.kind != "stalled")
        print(f"  readers dropped by the server (fell behind): {dropped}")
        print("  lost or duplicated: " + ("; ".join(problems[:5]) if problems else "none"))


def watch(port: int, viewers: list[Viewer], go: Path, processes: int) -> list[Viewer]:
    """The viewers, split over `processes` client processes (on a loaded box one process
    would be the bottleneck, not the server), until every reader has its run's last line;
    then the stalled ones read on. Returns them with what they got."""
    context = multiprocessing.get_context("fork")
    events: Any = context.Queue()
    release = context.Event()
    shares = [viewers[n::processes] for n in range(processes)]
    children = [
        context.Process(target=clients, args=(port, share, n, events, release))
        for n, share in enumerate(shares)
        if share
    ]
    for child in children:
        child.start()
    for _ in children:
        expect(events.get(timeout=300), "connected")
    time.sleep(0.5)  # the streams' replay (nothing yet) is sent
    go.touch()
    for _ in children:
        expect(events.get(timeout=900), "read")
    release.set()
    results = [events.get(timeout=900) for _ in children]
    for child in children:
        child.join(60)
    return [viewer for _, share in sorted(results) for viewer in share]


def expect(event: Any, wanted: str) -> None:
    if event != wanted:
        raise SystemExit(str(event))


def clients(port: int, share: list[Viewer], index: int, events: Any, release: Any) -> None:
    async def run() -> None:
        readers = [
            asyncio.create_task(
                follow_sse(port, v.run, v) if v.kind == "sse" else follow_ws(port, v.run, v)
            )
            for v in share
            if v.kind != "stalled"
        ]
        stalled = [
            asyncio.create_task(follow_ws(port, v.run, v, True))
            for v in share
            if v.kind == "stalled"
        ]
        while not all(v.connected for v in share):
            await asyncio.sleep(0.01)
        events.put("connected")
        await asyncio.gather(*readers)
        events.put("read")
        await asyncio.to_thread(release.wait)
        for v in share:
            v.release = True
        await asyncio.gather(*stalled)

    try:
        asyncio.run(run())
    except Exception as exc:  # the parent says what failed, rather than waiting for it
        events.put(f"client process {index} failed: {exc!r}")
        raise
    events.put((index, share))


def production(args: argparse.Namespace, data_dir: str) -> tuple[Server, subprocess.Popen[bytes]]:
    import psycopg

    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    env = server_env(data_dir, args.database_url, args.redis_url)
    server = Server(env, args.port, 1)
    log = Path(data_dir, "worker.log")
    worker = subprocess.Popen(
        [CONDUCTOR, "worker", "--name", "bench-live"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while " ready." not in log.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
    return server, worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--only", choices=["quiet", "fifty", "viewers"])
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()
    args.port = free_port()
    work = Path(tempfile.mkdtemp(prefix="conductor-bench-live-"))
    repo = work / "repo"
    repo.mkdir()
    for command in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "i"]):
        subprocess.run(["git", "-C", str(repo), *command], check=True, env=git_env())
    data_dir = str(work / "data")
    worker = None
    if args.database_url:
        server, worker = production(args, data_dir)
    else:
        server = Server(server_env(data_dir), args.port, 1)
    print(f"server pid {server.process.pid}; mode {'production' if worker else 'embedded'}")
    bench = Bench(server, args.port, work, args.client_processes)
    try:
        bench.api("POST", "/api/projects", {"project_id": "live", "project_root": str(repo)})
        lines = int(1000 * args.seconds)
        cases = {
            "quiet": ("a lone line every 100 ms, 1 WS + 1 SSE client", (1, 10, 50, 1, 1, False)),
            "fifty": (
                f"50 runs x 1,000 lines/s x {args.seconds:g} s, 1 WS + 1 SSE client each",
                (50, 1000, lines, 1, 1, False),
            ),
            "viewers": (
                f"1 run x 1,000 lines/s x {args.seconds:g} s, 199 WS clients + 1 stalled",
                (1, 1000, lines, 199, 0, True),
            ),
        }
        for name, (title, params) in cases.items():
            if args.only and name != args.only:
                continue
            for round_ in range(1, args.rounds + 1):
                print(f"{name} (round {round_}): {title}", flush=True)
                bench.case(*params)
    finally:
        server.stop()
        if worker is not None:
            worker.terminate()
            worker.wait(60)


def git_env() -> dict[str, str]:
    return {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@example.com",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@example.com",
    }


if __name__ == "__main__":
    main()
