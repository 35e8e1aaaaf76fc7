"""The HTTP server's own cost per request: a bare ASGI app, no Django, no database.

Usage: .venv/bin/python bench/http_floor.py [--requests N] [--clients C]

The app reads a small JSON POST and answers 201 with a short body, as the bus append does.
It is served by Daphne (Conductor's server) and, when uvicorn is importable, by uvicorn with
httptools for comparison (not a dependency: `pip install uvicorn httptools` in a scratch
venv). The same closed-loop client threads as `bench/api.py`; the server's CPU (user +
system, /proc) per request is the floor under every route of `conductor serve`.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

APP = """
async def app(scope, receive, send):
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"msg_id":"MSG-x"}'})
"""
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(label: str, command: list[str], port: int, requests: int, clients: int) -> None:
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
                break
            except OSError:
                time.sleep(0.1)

        def work(client: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port)
            for _ in range(client, requests, clients):
                conn.request(
                    "POST",
                    "/m",
                    b'{"type":"FACT","body":"floor"}',
                    {"Content-Type": "application/json"},
                )
                conn.getresponse().read()

        threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
        start_cpu, start = cpu_seconds(server.pid), time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed, used = time.perf_counter() - start, cpu_seconds(server.pid) - start_cpu
        print(
            f"{label}: {requests / elapsed:,.0f} requests/s, server CPU "
            f"{used / requests * 1000:.3f} ms a request = {requests / used:,.0f} per core-second"
        )
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"conductor-floor-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    (folder / "floor_app.py").write_text(APP)
    os.environ["PYTHONPATH"] = str(folder)
    port = free_port()
    measure(
        "Daphne",
        [str(BIN / "daphne"), "-p", str(port), "floor_app:app"],
        port,
        args.requests,
        args.clients,
    )
    if importlib.util.find_spec("uvicorn") and importlib.util.find_spec("httptools"):
        port = free_port()
        command = [
            str(BIN / "uvicorn"),
            "--port",
            str(port),
            "--http",
            "httptools",
            "--log-level",
            "warning",
            "--no-access-log",
            "floor_app:app",
        ]
        measure("uvicorn (httptools)", command, port, args.requests, args.clients)
    else:
        print("uvicorn (httptools): not installed, skipped")


if __name__ == "__main__":
    main()
