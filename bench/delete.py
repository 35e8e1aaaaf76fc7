"""A big project's delete while another project's bus is busy, through a real `conductor serve`
(throwaway data dir, embedded mode unless `--database-url` and `--redis-url` are given).

Usage: .venv/bin/python bench/delete.py [--files N] [--writers W]
    [--database-url URL --redis-url URL]

Project `big` gets N files of 4 KiB in its runs' folders (written straight into the data dir, as
runs' logs and outputs would be); W client threads append to project `busy`'s bus without pause
while `DELETE /api/projects/big` runs. Printed: the delete's time, and the appends' latency
while it ran (p50, p99, the longest), beside their latency before it.
"""

from __future__ import annotations

import argparse
import http.client
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from api import CONDUCTOR, Server, call, free_port, percentiles, server_env

BLOCK = b"x" * 4096


def big_folder(data_dir: Path, files: int) -> None:
    """`files` files under `big`'s task folders, 1,000 to a run folder."""
    for n in range(files):
        folder = data_dir / "projects" / "big" / f"t{n // 10_000}" / "runs" / f"r{n // 1000}"
        if n % 1000 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{n}").write_bytes(BLOCK)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--database-url", default="", help="production mode: this database")
    parser.add_argument("--redis-url", default="", help="production mode: this Redis")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="conductor-bench-"))
    env = server_env(str(data_dir), args.database_url, args.redis_url)
    subprocess.run([CONDUCTOR, "migrate", "--verbosity", "0"], env=env, check=True)
    if args.database_url:
        subprocess.run([CONDUCTOR, "manage", "flush", "--no-input"], env=env, check=True)
    port = free_port()
    server = Server(env, port, 1)
    try:
        setup = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        repo = Path(tempfile.mkdtemp(prefix="conductor-bench-repo-"))
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        for project in ("big", "busy"):
            call(setup, "POST", "/api/projects", {"project_id": project, "project_root": str(repo)})
        big_folder(data_dir, args.files)
        samples: list[tuple[float, float]] = []  # (sent at, latency)
        stop = threading.Event()

        def append(n: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            body = {"type": "FACT", "body": f"from writer {n}"}
            while not stop.is_set():
                sent = time.perf_counter()
                call(conn, "POST", "/api/projects/busy/tasks/t1/messages", body)
                samples.append((sent, time.perf_counter() - sent))

        writers = [threading.Thread(target=append, args=(n,)) for n in range(args.writers)]
        for writer in writers:
            writer.start()
        time.sleep(2)  # the appends' pace before the delete
        began = time.perf_counter()
        call(setup, "DELETE", "/api/projects/big")
        ended = time.perf_counter()
        time.sleep(0.5)
        stop.set()
        for writer in writers:
            writer.join()
    finally:
        server.stop()
    before = [latency for sent, latency in samples if sent < began]
    during = [latency for sent, latency in samples if began <= sent < ended]
    late = [latency for sent, latency in samples if sent < began and sent + latency > began]
    longest = max(during + late, default=0.0)
    print(
        f"DELETE of a project of {args.files:,} files ({args.files * 4 // 1024:,} MiB): "
        f"{ended - began:.2f} s; {args.writers} writers' appends before it {percentiles(before)}; "
        f"during it {len(during)} appends, {percentiles(during) if during else 'none'}, "
        f"the longest {longest * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
