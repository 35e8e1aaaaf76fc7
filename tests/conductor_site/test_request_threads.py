"""Requests one after another are served on one kept thread, and in embedded mode that thread
keeps its SQLite connection (`conductor_site.request_threads`, settings' `CONN_MAX_AGE`):
opening one per request was ~12% of a bus append's CPU (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.db.backends.signals import connection_created

from conductor_site.asgi import django_application

pytestmark = pytest.mark.django_db(transaction=True)


async def _get(path: str) -> int:
    """One GET through the real ASGI handler; its status (the body read to the end)."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": b"",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(django_application, scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(30)
    message = start
    while message.get("more_body", message["type"] == "http.response.start"):
        message = await communicator.receive_output(30)
    await communicator.wait(30)
    return int(start["status"])


def test_requests_in_a_row_reuse_one_thread_and_its_database_connection() -> None:
    opened: list[str] = []

    def on_created(sender: Any, connection: Any, **kwargs: Any) -> None:
        opened.append(threading.current_thread().name)

    connection_created.connect(on_created)
    try:
        statuses = [asyncio.run(_get("/api/projects")) for _ in range(5)]
    finally:
        connection_created.disconnect(on_created)

    assert statuses == [200] * 5
    assert len(opened) == 1, f"a connection per request: {opened}"
    assert opened[0].startswith("request")
