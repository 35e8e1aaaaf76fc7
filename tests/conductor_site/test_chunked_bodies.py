"""A body sent without a Content-Length (`Transfer-Encoding: chunked`) to a real server: read
like any other when it is within the limit, a 413 past it."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from django.conf import settings

from tests.processes import Server

LIMIT = settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # the server runs with the same default


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("chunked")
    running = Server(folder / "data", folder / "server.log")
    yield running
    running.terminate()
    assert "Traceback" not in running.output(), running.output()


def post_chunked(server: Server, path: str, chunks: Iterable[bytes]) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        for chunk in chunks:
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        assert response.getheader("Content-Type") == "application/json"
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def test_a_chunked_json_body_is_read(server: Server) -> None:
    message = {"project_id": "p1", "type": "FACT", "body": "sent in chunks"}

    status, answer = post_chunked(
        server, "/api/v1/messages", pieces(json.dumps(message).encode(), 7)
    )

    assert status == 201, answer
    _, listed = server.request("GET", "/api/v1/messages?project_id=p1")
    assert [m["body"] for m in listed["messages"]] == ["sent in chunks"]


def test_a_chunked_body_past_the_limit_is_a_413(server: Server) -> None:
    megabyte = b" " * 1024 * 1024

    status, answer = post_chunked(server, "/api/v1/messages", (megabyte for _ in range(50)))

    assert status == 413
    assert answer == {
        "error": f"the request body is larger than {LIMIT} bytes",
        "code": "PAYLOAD_TOO_LARGE",
        "details": {"limit": LIMIT},
    }
    assert server.request("GET", "/api/v1/health")[0] == 200


def test_a_chunked_body_at_the_limit_reaches_the_view(server: Server) -> None:
    body = b'{"project_id": "p2", "type": "FACT", "body": "' + b"a" * 100 + b'"}'
    padded = body + b" " * (LIMIT - len(body))

    status, answer = post_chunked(server, "/api/v1/messages", pieces(padded, 64 * 1024))

    assert status == 201, answer


def test_an_empty_chunked_body_is_an_empty_body(server: Server) -> None:
    status, answer = post_chunked(server, "/api/v1/messages", [])

    assert status == 400
    assert answer["code"] == "BAD_REQUEST"
