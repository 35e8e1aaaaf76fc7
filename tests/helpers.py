"""Assertions several test modules share."""

from __future__ import annotations

from typing import Any

from conductor_site.live.events import LogChunk


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the one error shape with this status and code; returns its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = response.json()
    assert set(body) == {"error", "code", "details"}
    assert isinstance(body["error"], str) and body["error"]
    assert body["code"] == code
    return dict(body)


def log_chunk_event(run_id: str, seq: int, text: str = "line\n") -> LogChunk:
    """A typed `log.chunk` live event, as the log writer publishes it."""
    return {
        "type": "log.chunk",
        "run_id": run_id,
        "seq": seq,
        "stream": "stdout",
        "text": text,
        "lines": text.count("\n"),
        "timestamp": "2026-12-01T00:00:00+00:00",
    }
