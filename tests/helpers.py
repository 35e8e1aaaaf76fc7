"""Assertions several test modules share."""

from __future__ import annotations

from typing import Any


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the one error shape with this status and code; returns its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = response.json()
    assert set(body) == {"error", "code", "details"}
    assert isinstance(body["error"], str) and body["error"]
    assert body["code"] == code
    return dict(body)
