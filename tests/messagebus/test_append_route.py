"""The lean bus append (messagebus.append_route) in front of Django, called as ASGI.

What it answers must be what the full path answers; what it cannot answer exactly must
reach Django with its body intact. The app behind it here records what reached it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from messagebus.append_route import BusAppends
from messagebus.models import Message
from projects.models import Project
from tests.conductor_site.test_audit import audit_lines

pytestmark = pytest.mark.django_db(transaction=True)

TASK_BUS = "/api/projects/demo/tasks/t1/messages"


class Django:
    """Stands where Django does: records each request that reaches it, answers 418."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def post(
    path: str, body: Any, headers: dict[str, str] | None = None, query: bytes = b""
) -> tuple[Django, int, dict[str, str], bytes]:
    """POST `body` (JSON unless bytes) through the lean path; (Django, status, headers, body)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {"content-type": "application/json", "content-length": str(len(raw))}
    all_headers.update(headers or {})
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": query,
        "headers": [(k.encode(), v.encode()) for k, v in all_headers.items()],
        "client": ("127.0.0.1", 50000),
    }
    django, sent = Django(), []
    pending = [{"type": "http.request", "body": raw, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return pending.pop() if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(BusAppends(django)(scope, receive, send))
    answer_headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    return django, sent[0]["status"], answer_headers, b"".join(m.get("body", b"") for m in sent)


@pytest.fixture
def demo() -> Project:
    return Project.objects.create(id="demo")


@pytest.mark.parametrize(
    ("path", "body", "task_id", "meta"),
    [
        (TASK_BUS, {"type": "FACT", "body": "hi"}, "t1", {}),
        ("/api/projects/demo/messages", {"body": "hi", "meta": {"a": 1}}, None, {}),
        (
            "/api/v1/messages",
            {"project_id": "demo", "task_id": "t1", "body": "hi", "meta": {"a": 1}},
            "t1",
            {"a": "1"},
        ),
    ],
)
def test_a_plain_post_is_answered_without_django(
    demo: Project, path: str, body: dict[str, Any], task_id: str | None, meta: dict[str, str]
) -> None:
    django, status, headers, content = post(path, body, {"x-request-id": "req-mine"})

    assert (status, django.bodies) == (201, [])
    answer = json.loads(content)
    message = Message.objects.get()
    assert answer == {"msg_id": message.msg_id, "timestamp": answer["timestamp"]}
    assert answer["timestamp"] == message.created_at.isoformat().replace("+00:00", "Z")
    assert headers["x-request-id"] == "req-mine"
    assert headers["content-type"] == "application/json"
    assert (message.task.task_id if message.task else None) == task_id
    assert (message.type, message.body, message.meta) == (body.get("type", "USER"), "hi", meta)


def test_its_audit_line_is_the_full_paths_line(demo: Project, audit_log: Path) -> None:
    body = {"type": "FACT", "body": "token=s3cr3t here", "password": "x"}
    APIClient().post(TASK_BUS, body, format="json", HTTP_X_REQUEST_ID="req-full")
    post(TASK_BUS, body, {"x-request-id": "req-lean"})

    full, lean = audit_lines(audit_log)
    msg_ids = list(Message.objects.values_list("msg_id", flat=True))
    assert (full["message_id"], lean["message_id"]) == tuple(msg_ids)
    assert lean["request_id"] == lean["correlation_id"] == "req-lean"
    volatile = {"timestamp", "request_id", "correlation_id", "message_id", "remote_addr"}
    assert {k: v for k, v in lean.items() if k not in volatile} == {
        k: v for k, v in full.items() if k not in volatile
    }


@pytest.mark.parametrize(
    ("path", "body", "headers", "query"),
    [
        (TASK_BUS, {"body": "   "}, {}, b""),  # blank: the serializer's 400
        (TASK_BUS, {"body": 5}, {}, b""),
        (TASK_BUS, {"type": " FACT", "body": "b"}, {}, b""),  # DRF trims it
        (TASK_BUS, {"type": "T" * 65, "body": "b"}, {}, b""),
        (TASK_BUS, b"[1, 2]", {}, b""),
        (TASK_BUS, b"{not json", {}, b""),
        (TASK_BUS, b'{"body": "a\\u0000b"}', {}, b""),
        (TASK_BUS, b'{"body": "\\ud800"}', {}, b""),
        (TASK_BUS, {"body": "b"}, {"origin": "http://elsewhere"}, b""),  # CORS applies
        (TASK_BUS, {"body": "b"}, {"accept": "text/html"}, b""),  # the browsable API
        (TASK_BUS, {"body": "b"}, {"content-type": "text/plain"}, b""),
        (TASK_BUS, {"body": "b"}, {}, b"x=1"),
        ("/api/v1/messages", {"project_id": "demo", "body": "b", "run_id": "r"}, {}, b""),
        ("/api/v1/messages", {"project_id": "demo", "body": "b", "parents": ["m"]}, {}, b""),
        ("/api/v1/messages", {"project_id": "demo", "body": "b", "meta": None}, {}, b""),
        ("/api/v1/messages", {"project_id": " demo", "body": "b"}, {}, b""),
        ("/api/v1/messages", {"project_id": "demo", "task_id": 7, "body": "b"}, {}, b""),
        ("/api/projects/_audit/messages", {"body": "b"}, {}, b""),  # reserved: the writer refuses
    ],
)
def test_anything_else_reaches_django_with_its_body(
    demo: Project, path: str, body: Any, headers: dict[str, str], query: bytes
) -> None:
    django, status, _, _ = post(path, body, headers, query)

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    assert (status, django.bodies) == (418, [raw])
    assert not Message.objects.exists()


def test_a_wrong_key_reaches_django_for_its_401(demo: Project, settings: Settings) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "k"}

    assert post(TASK_BUS, {"body": "b"}, {"x-api-key": "wrong"})[1] == 418
    assert post(TASK_BUS, {"body": "b"}, {"authorization": "Bearer k"})[1] == 201


def test_a_body_over_the_limit_is_left_to_django_unread(demo: Project, settings: Settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    status = post(TASK_BUS, {"body": "longer than ten"})[1]

    assert status == 418 and not Message.objects.exists()


@pytest.fixture
def audit_log(settings: Settings) -> Path:
    return Path(settings.DATA_DIR) / "_audit" / "form-submissions.jsonl"
