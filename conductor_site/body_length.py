"""Request bodies sent without a `Content-Length` (`Transfer-Encoding: chunked`).

Django's ASGI handler reads the whole body, then checks `DATA_UPLOAD_MAX_MEMORY_SIZE` against
the `Content-Length` header and reads `request.body` as that many bytes. A chunked body has no
such header: it bypassed the limit, and was then read as empty (a valid JSON body sent chunked
came out as no body at all). `BodyLength` stands in front of Django and gives such a body the
header: it reads the body up to the limit and no further, answers 413 in the error shape past
it, and otherwise passes it on with its `Content-Length`, so the one limit and the one parser
apply whatever the framing.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from conductor_site.errors import too_large_body

Scope = dict[str, Any]


class ClientGone(Exception):
    """The client disconnected before its body was complete: nothing to answer."""


class BodyLength:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        headers = scope.get("headers", [])
        if scope["type"] != "http" or any(name == b"content-length" for name, _ in headers):
            await self.app(scope, receive, send)
            return
        try:
            body = await body_within(receive, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        except ClientGone:
            return
        if body is None:
            await _send_too_large(send)
        else:
            await self.app(_with_length(scope, body), replaying(body, receive), send)


async def body_within(receive: Any, limit: int | None) -> bytes | None:
    """The whole body; None as soon as it passes `limit` (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _with_length(scope: Scope, body: bytes) -> Scope:
    if not body:
        return scope
    headers = [(name, value) for name, value in scope["headers"] if name != b"transfer-encoding"]
    return {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}


def replaying(body: bytes, receive: Any) -> Any:
    """`receive` for the app: the body read already, then whatever comes (the disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> dict[str, Any]:
        return pending.pop() if pending else await receive()

    return replayed


async def _send_too_large(send: Any) -> None:
    content = json.dumps(too_large_body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(content))]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": content})
