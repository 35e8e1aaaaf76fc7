"""The lean path for bus posts: the common append answered without Django's request stack.

Why: through Daphne, Django's ASGI handler (a thread per request, its signals) and the
middleware, a request costs a few milliseconds of CPU before the view runs, so a process
tops out at a few hundred appends a second whatever the database does; a swarm of agents
posting to the bus needs thousands (DESIGN.md §8). This ASGI app stands in front of Django
for `POST` on the three bus routes and answers the common case itself, on the event loop:
the body parsed once, the post handed to the group-committing writer (messagebus.writer),
the 201 sent when its row is committed and published.

It takes only what it can answer exactly as the full path would, and hands everything else
to Django untouched (the body it read is replayed): a browser's request (an `Origin`, so
CORS applies, or an `Accept` asking for HTML), a key that does not match (Django's 401),
a body that is not a JSON object of plain, already trimmed fields, a post naming a run or
parents (they are looked up), and any post the writer refuses (bad project id, ...), so
every error keeps the one shape and the one home. What the middleware gives a request it
gives too: the request id, the API key check, the request counter, the security headers,
the body limit (Django's answers a larger body) and the audit line (written per batch).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from django.conf import settings

from conductor_site.audit import (
    REQUEST_ID_HEADER,
    AuditedRoute,
    RequestLine,
    audited_post,
    request_id_from,
    submission_record,
)
from conductor_site.auth import key_accepted, key_in
from conductor_site.body_length import ClientGone, body_within, replaying
from conductor_site.errors import INTERNAL_ERROR, DomainError, error_body
from conductor_site.ids import is_identifier
from conductor_site.metrics import API_REQUESTS
from conductor_site.parsers import json_loads
from messagebus.models import Message
from messagebus.services import TYPE_MAX_LENGTH, MessageInvalid, meta_strings
from messagebus.writer import Post, append_writer
from runs.selectors import rfc3339

Scope = dict[str, Any]

# What Django's SecurityMiddleware, XFrameOptionsMiddleware and DRF add to such an answer.
ANSWER_HEADERS = [
    (b"content-type", b"application/json"),
    (b"vary", b"Accept"),
    (b"allow", b"GET, POST, HEAD, OPTIONS"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class BusAppends:
    """ASGI: the lean bus append in front of `app` (Django)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        route = _lean_route(scope)
        headers = _headers(scope) if route is not None else {}
        if route is None or not _lean_request(scope, headers):
            await self.app(scope, receive, send)
            return
        try:
            body = await body_within(receive, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        except ClientGone:
            return
        assert body is not None  # `_lean_request` saw a Content-Length within the limit
        request = RequestLine(
            request_id_from(headers.get("x-request-id", "")),
            "POST",
            scope["path"],
            (scope.get("client") or [None])[0],
        )
        post = lean_post(route, body, request)
        message = await _appended(post) if post is not None else None
        if message is None:
            await self.app(scope, replaying(body, receive), send)
            return
        await _answer(send, message, request)


def _lean_route(scope: Scope) -> AuditedRoute | None:
    if scope["type"] != "http" or scope.get("method") != "POST":
        return None
    route = audited_post("POST", scope["path"])
    return route if route is not None and route.endpoint.endswith("/messages") else None


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def _lean_request(scope: Scope, headers: dict[str, str]) -> bool:
    """A JSON post with a length within the limit, from no browser, with the right key."""
    try:
        length = int(headers.get("content-length", ""))
    except ValueError:
        return False
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return (
        "origin" not in headers
        and "text/html" not in headers.get("accept", "")
        and headers.get("content-type", "").split(";")[0].strip() == "application/json"
        and (limit is None or length <= limit)
        and not scope.get("query_string")
        and key_accepted(key_in(headers.get("authorization", ""), headers.get("x-api-key", "")))
    )


def lean_post(route: AuditedRoute, raw: bytes, request: RequestLine) -> Post | None:
    """The post, when the body is one the serializers would take as it is; else None. Its
    `done` is a future of the running loop: the writer answers a batch with one wake-up."""
    try:
        payload = json_loads(raw.decode())
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    fields = _message_fields(payload)
    ids = _path_ids(route, payload)
    if fields is None or ids is None:
        return None
    (type_, body), (project_id, task_id, meta) = fields, ids
    return Post(
        done=asyncio.get_running_loop().create_future(),
        project_id=project_id,
        task_id=task_id,
        type=type_,
        body=body,
        meta=meta,
        audit=lambda message: submission_record(
            request, route, payload, {"msg_id": message.msg_id}
        ),
    )


def _message_fields(payload: dict[str, Any]) -> tuple[str, str] | None:
    """`type` (blank or missing: USER) and `body` (a string that is not blank)."""
    type_, body = payload.get("type"), payload.get("body")
    if type_ in (None, ""):
        type_ = "USER"
    if not (_plain(type_) and len(type_) <= TYPE_MAX_LENGTH) or not isinstance(body, str):
        return None
    return (type_, body) if body.strip() and _encodable(body) else None


def _path_ids(
    route: AuditedRoute, payload: dict[str, Any]
) -> tuple[str, str | None, dict[str, str]] | None:
    """(project, task, meta): from the path, or from the body on `/api/v1/messages`."""
    if "project_id" in route.path_ids:
        return route.path_ids["project_id"], route.path_ids.get("task_id"), {}
    project_id, task_id, meta = (payload.get(k) for k in ("project_id", "task_id", "meta"))
    task_id = None if task_id in (None, "") else task_id
    if payload.get("run_id") not in (None, "") or payload.get("parents", []) != []:
        return None
    if not isinstance(project_id, str) or not _identifier(project_id):
        return None
    if task_id is not None and not (isinstance(task_id, str) and _identifier(task_id)):
        return None
    if not isinstance(meta, dict | None) or (meta is None and "meta" in payload):
        return None
    return project_id, task_id, meta_strings(meta or {})


def _plain(value: Any) -> bool:
    """A non-empty string that DRF would take unchanged (it trims, it refuses surrogates)."""
    return isinstance(value, str) and value == value.strip() and bool(value) and _encodable(value)


def _identifier(value: Any) -> bool:
    return _plain(value) and is_identifier(value)


def _encodable(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


async def _appended(post: Post) -> Message | Exception | None:
    """The committed row; None when the post is refused (the full path answers it); the
    exception when the database failed."""
    assert isinstance(post.done, asyncio.Future)  # of this loop (`lean_post`)
    append_writer().submit(post)
    try:
        return await post.done
    except (DomainError, MessageInvalid):
        return None
    except Exception as exc:
        return exc


async def _answer(send: Any, message: Message | Exception, request: RequestLine) -> None:
    """The contract's 201, or the JSON 500 (the writer logged the database's error)."""
    if isinstance(message, Message):
        status = 201
        answer = {"msg_id": message.msg_id, "timestamp": rfc3339(message.created_at)}
    else:
        status = 500
        answer = error_body(status, INTERNAL_ERROR, {"request_id": request.request_id})
    content = json.dumps(answer, separators=(",", ":")).encode()
    headers = [
        *ANSWER_HEADERS,
        (b"content-length", b"%d" % len(content)),
        (REQUEST_ID_HEADER.lower().encode(), request.request_id.encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
    API_REQUESTS.labels("POST", str(status)).inc()
