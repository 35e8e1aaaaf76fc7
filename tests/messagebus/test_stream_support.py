"""What the stream tests share (no tests here): a real `conductor serve` whose keepalive is
1 s, and a real HTTP client reading an event stream line by line."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runs.models import TERMINAL_STATUSES
from tests.conftest import wait_for
from tests.processes import Server

TIMEOUT = 60.0
PROJECT = "demo"


@dataclass
class Conductor:
    server: Server
    data: Path

    @property
    def port(self) -> int:
        return self.server.port

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.server.request(method, path, body)

    def start_task(self, prompt: str, task_id: str | None = None, **fields: Any) -> tuple[str, str]:
        """A shell agent running `prompt` (bash); returns (task_id, run_id)."""
        task_id = task_id or f"t-{uuid.uuid4().hex[:8]}"
        body = {"project_id": PROJECT, "task_id": task_id, "agent_type": "shell"}
        status, created = self.request(
            "POST", "/api/v1/tasks", {**body, "prompt": prompt, **fields}
        )
        assert status == 201, created
        return task_id, created["run_id"]

    def finished_run(self, run_id: str) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            run = self.request("GET", f"/api/v1/runs/{run_id}")[1]
            return run if run["status"] in TERMINAL_STATUSES else None

        return wait_for(ended, TIMEOUT, f"run {run_id} to end")

    def open_gate(self, task_id: str) -> None:
        """Let a `gated()` agent go on."""
        (self.data / "projects" / PROJECT / task_id / "go").touch()


def gated(script: str) -> str:
    """An agent that prints nothing until the test has opened its streams (`open_gate`)."""
    return f'while [ ! -f "$CONDUCTOR_TASK_DIR/go" ]; do sleep 0.02; done\n{script}'


def counting(lines: int, pause: float = 0.0) -> str:
    sleep = f"; sleep {pause}" if pause else ""
    return f"for i in $(seq 1 {lines}); do echo line $i{sleep}; done"


def expected_lines(lines: int) -> list[str]:
    return [f"line {i}" for i in range(1, lines + 1)]


@contextmanager
def conductor(tmp: Path) -> Iterator[Conductor]:
    server = Server(tmp / "data", tmp / "server.log", CONDUCTOR_SSE_KEEPALIVE_SECONDS="1")
    try:
        yield Conductor(server, tmp / "data")
    finally:
        server.terminate()
    assert "Traceback" not in server.output(), server.output()


@dataclass
class Event:
    data: str
    event: str = "message"
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


class EventStream:
    """`GET path` with a real HTTP client; events are parsed as EventSource does."""

    def __init__(self, conductor: Conductor, path: str, last_event_id: str | None = None) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", conductor.port, timeout=TIMEOUT)
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.connection.request("GET", path, headers=headers)
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.comments: list[str] = []

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    def error(self) -> dict[str, Any]:
        assert self.response.getheader("Content-Type") == "application/json"
        body = json.loads(self.response.read())
        assert set(body) == {"error", "code", "details"}, body
        return body

    def next(self, deadline: float) -> Event | None:
        """The next event; None when the server ended the stream."""
        fields: dict[str, str] = {}
        data: list[str] = []
        while time.monotonic() < deadline:
            raw = self.response.readline()
            if not raw:
                return None
            line = raw.decode().removesuffix("\n")
            if line == "":
                if data:
                    return Event("\n".join(data), fields.get("event", "message"), fields.get("id"))
                fields = {}
            elif line.startswith(":"):
                self.comments.append(line[1:].strip())
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    data.append(value)
                else:
                    fields[name] = value
        raise AssertionError("timed out reading the stream")

    def until(self, done: Callable[[Event], bool], timeout: float = TIMEOUT) -> list[Event]:
        """Events up to and including the first for which `done` is true."""
        deadline = time.monotonic() + timeout
        events: list[Event] = []
        while True:
            event = self.next(deadline)
            assert event is not None, f"the stream ended before the expected event: {events}"
            events.append(event)
            if done(event):
                return events

    def rest(self, timeout: float = TIMEOUT) -> list[Event]:
        """Every event until the server ends the stream."""
        deadline = time.monotonic() + timeout
        events: list[Event] = []
        while (event := self.next(deadline)) is not None:
            events.append(event)
        return events

    def until_comment(self, text: str, timeout: float = TIMEOUT) -> list[str]:
        """Raw lines up to the comment `: <text>` (an idle stream sends only comments)."""
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        while time.monotonic() < deadline:
            raw = self.response.readline()
            assert raw, "the stream ended"
            lines.append(raw.decode().removesuffix("\n"))
            if lines[-1] == f": {text}":
                return lines
        raise AssertionError(f"timed out waiting for ': {text}'")


def is_done(event: Event) -> bool:
    return event.event == "message" and event.json().get("type") == "done"


def logs(events: list[Event]) -> list[Event]:
    return [e for e in events if e.event == "message" and e.json().get("type") == "log"]
