"""The live diff's delay: from a file written in a running agent's worktree to the WebSocket
client that sees its new entry (`/ws/attempts/<a>/diff/`).

Usage: .venv/bin/python bench/diff_stream.py [--writes N] [--rounds R] [--files F]
       DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python bench/diff_stream.py
       (production mode: a production `conductor serve` and one `conductor worker`)

A repository of F files; each round starts a shell agent that waits until told to end, opens
the stream, then writes N files into the worktree one at a time (50 names, each rewritten
with a new content), each write awaited on the stream before the next: the delay is from
just before the write to the `files` frame carrying that content. Quiet-tree latency, the
case a user watching one agent sees; it includes the 50 ms quiet window the watcher waits
before it diffs (`runs/diffwatch.py` STEP_MS). Prints p50 / p99 / max per round and the
machine's load average around each round.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import CONDUCTOR, call, free_port, server_env
from connections import start

AGENT = 'while [ ! -f "$CONDUCTOR_TASK_DIR/end" ]; do sleep 0.05; done'


def make_repo(folder: Path, files: int) -> Path:
    repo = folder / "repo"
    repo.mkdir()
    for n in range(files):
        path = repo / f"dir{n % 20}" / f"file{n}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text("".join(f"line {i} of file {n}\n" for i in range(40)))
    for args in (["init", "-q", "-b", "main"], ["add", "."]):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-qm", "i"],
        check=True,
    )
    return repo


def api(port: int, method: str, path: str, body: object = None) -> Any:
    return call(http.client.HTTPConnection("127.0.0.1", port, timeout=30), method, path, body)


def agent_started(port: int, data: Path) -> tuple[str, Path, Path]:
    """A new waiting agent, once it runs: (attempt_id, worktree, the task's folder)."""
    task_id = f"t-{uuid.uuid4().hex[:8]}"
    body = {"project_id": "bench", "task_id": task_id, "agent_type": "shell", "prompt": AGENT}
    run_id = api(port, "POST", "/api/v1/tasks", body)["run_id"]
    while api(port, "GET", f"/api/v1/runs/{run_id}")["status"] != "running":
        time.sleep(0.05)
    attempt = api(port, "GET", f"/api/v1/attempts?task_id={task_id}")["items"][0]
    return attempt["attempt_id"], Path(attempt["worktree_path"]), data / "projects/bench" / task_id


async def one_round(port: int, data: Path, writes: int) -> list[float]:
    attempt_id, worktree, task_dir = agent_started(port, data)
    delays: list[float] = []
    async with connect(f"ws://127.0.0.1:{port}/ws/attempts/{attempt_id}/diff/") as ws:
        for _ in range(2):  # the stored snapshot, then the whole diff from the worktree
            await ws.recv()
        (worktree / "bench").mkdir()
        for n in range(writes):
            path, content = f"bench/f{n % 50}.txt", f"write {n}\n"
            started = time.perf_counter()
            (worktree / path).write_text(content)
            while not await _carries(ws, path, content):
                pass
            delays.append(time.perf_counter() - started)
        (task_dir / "end").touch()
        while json.loads(await ws.recv())["type"] != "done":
            pass
    return delays


async def _carries(ws: Any, path: str, content: str) -> bool:
    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
    files = frame.get("files", []) if frame["type"] == "files" else []
    return any(f["new_path"] == path and f.get("new_content") == content for f in files)


def summary(delays: list[float]) -> str:
    ordered = sorted(delays)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="conductor-bench-diff-"))
    repo, data, port = make_repo(work, args.files), work / "data", free_port()
    production = bool(os.getenv("DATABASE_URL") and os.getenv("REDIS_URL"))
    env = server_env(str(data), os.getenv("DATABASE_URL", ""), os.getenv("REDIS_URL", ""))
    serve = ["serve", "--port", str(port)]
    processes = [start(serve, env, work / "serve.log", "")]
    api_ready(port)
    if production:
        processes.append(start(["worker", "--name", "bench"], env, work / "w.log", " ready."))
    try:
        api(port, "POST", "/api/projects", {"project_id": "bench", "project_root": str(repo)})
        print(f"{'production' if production else 'embedded'} mode, {args.files} files")
        for n in range(args.rounds):
            load = os.getloadavg()[0]
            delays = asyncio.run(one_round(port, data, args.writes))
            after = os.getloadavg()[0]
            loads = f"load {load:.1f}→{after:.1f}"
            print(f"round {n + 1}: {len(delays)} writes: {summary(delays)} ({loads})")
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)


def api_ready(port: int) -> None:
    for _ in range(600):
        try:
            api(port, "GET", "/api/v1/health")
            return
        except (OSError, SystemExit):
            time.sleep(0.1)
    raise SystemExit("the server did not answer")


if __name__ == "__main__":
    assert Path(CONDUCTOR).exists(), CONDUCTOR
    main()
