"""Request ids, and the form-submission audit log (`<data dir>/_audit/form-submissions.jsonl`).

Every accepted (2xx) POST to one of the contract's five submission routes, from any client,
appends one JSON line: who sent what, with secrets redacted, and what it created.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from conductor_site.parsers import json_loads

log = logging.getLogger("conductor.audit")

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_META = "conductor.request_id"
# Visible ASCII only: the value is echoed in a response header and written to logs.
REQUEST_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}\Z")


def new_request_id() -> str:
    return f"req-{time.time_ns()}-{secrets.token_hex(6)}"


def request_id_of(request: HttpRequest) -> str:
    """The request's id: the client's `X-Request-ID` when usable, else one made up for it."""
    value = request.META.get(REQUEST_ID_META)
    if not value:
        value = request_id_from(request.headers.get(REQUEST_ID_HEADER, ""))
        request.META[REQUEST_ID_META] = value
    return str(value)


def request_id_from(sent: str) -> str:
    """The client's `X-Request-ID` when usable, else a new one."""
    sent = sent.strip()
    return sent if REQUEST_ID_RE.match(sent) else new_request_id()


class RequestIdMiddleware:
    """Gives every request an id and echoes it in every response's `X-Request-ID`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_of(request)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


# The audited routes: (pattern, endpoint label). The labels spell the routes as the contract
# does, so they stay stable whatever the URL converters are called.
_ID = r"[A-Za-z0-9_-]{1,128}"
AUDITED_ROUTES = (
    (re.compile(r"^/api/v1/tasks\Z"), "POST /api/v1/tasks"),
    (re.compile(r"^/api/projects\Z"), "POST /api/projects"),
    (
        re.compile(rf"^/api/projects/(?P<project_id>{_ID})/messages\Z"),
        "POST /api/projects/{project_id}/messages",
    ),
    (
        re.compile(rf"^/api/projects/(?P<project_id>{_ID})/tasks/(?P<task_id>{_ID})/messages\Z"),
        "POST /api/projects/{project_id}/tasks/{task_id}/messages",
    ),
    (re.compile(r"^/api/v1/messages\Z"), "POST /api/v1/messages"),
)


@dataclass(frozen=True)
class AuditedRoute:
    endpoint: str
    path_ids: dict[str, str]


def audited_route(request: HttpRequest) -> AuditedRoute | None:
    return audited_post(str(request.method), request.path)


def audited_post(method: str, path: str) -> AuditedRoute | None:
    if method != "POST":
        return None
    for pattern, endpoint in AUDITED_ROUTES:
        if match := pattern.match(path):
            return AuditedRoute(endpoint, match.groupdict())
    return None


class FormSubmissionAuditMiddleware:
    """Appends an audit line for each accepted submission; never fails the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        route = audited_route(request)
        if route is None:
            return self.get_response(request)
        try:
            # Read the body before the view does: afterwards it is gone from the stream.
            body = _request_body(request)
        except RequestDataTooBig:
            return self.get_response(request)  # answered 413: nothing was accepted
        response = self.get_response(request)
        if 200 <= response.status_code < 300:
            try:
                audit_append(audit_record(request, route, body, _response_json(response)))
            except Exception:
                log.warning("could not write the form-submission audit log", exc_info=True)
        return response


def _request_body(request: HttpRequest) -> Any:
    raw = request.body
    try:
        return json_loads(raw) if raw else {}
    except ValueError:  # the view answers it; too deep is a ValueError too
        return {"[UNPARSED]": f"{len(raw)} bytes of non-JSON body"}


def _response_json(response: HttpResponse) -> dict[str, Any]:
    if response.streaming or "json" not in response.get("Content-Type", ""):
        return {}
    try:
        data = json.loads(response.content)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def audit_record(
    request: HttpRequest, route: AuditedRoute, body: Any, answer: dict[str, Any]
) -> dict[str, Any]:
    """One line: the contract's fields, every one present (null when not applicable)."""
    request_line = RequestLine(
        request_id_of(request), str(request.method), request.path, request.META.get("REMOTE_ADDR")
    )
    return submission_record(request_line, route, body, answer)


@dataclass(frozen=True)
class RequestLine:
    """What the audit keeps of a request, from Django's request or an ASGI scope."""

    request_id: str
    method: str
    path: str
    remote_addr: str | None


def submission_record(
    request: RequestLine, route: AuditedRoute, body: Any, answer: dict[str, Any]
) -> dict[str, Any]:
    fields = body if isinstance(body, dict) else {}
    project_id = route.path_ids.get("project_id") or answer.get("project_id")
    project_id = project_id or fields.get("project_id") or answer.get("id")
    task_id = route.path_ids.get("task_id") or answer.get("task_id") or fields.get("task_id")
    is_message = route.endpoint.endswith("/messages")
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "request_id": request.request_id,
        "correlation_id": request.request_id,
        "method": request.method,
        "path": request.path,
        "endpoint": route.endpoint,
        "remote_addr": request.remote_addr or None,
        "project_id": _id_or_none(project_id),
        "task_id": _id_or_none(task_id),
        "run_id": _id_or_none(answer.get("run_id")) if route.endpoint.endswith("/tasks") else None,
        "message_id": _id_or_none(answer.get("msg_id")) if is_message else None,
        "payload": sanitize(body if isinstance(body, dict) else {"value": body}),
    }


def _id_or_none(value: Any) -> str | None:
    return str(value)[:128] if isinstance(value, str | int) and str(value) else None


# Sanitizing: sensitive keys lose their values, token-like text is masked, sizes are bounded.
REDACTED = "[REDACTED]"
TRUNCATED = "[TRUNCATED]"
MAX_ITEMS = 100
MAX_DEPTH = 8
SENSITIVE_KEY_PARTS = (
    "token",
    "secret",
    "password",
    "passwd",
    "api_key",
    "apikey",
    "authorization",
    "auth",
    "credential",
    "private_key",
    "access_key",
    "cookie",
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)(?!\[REDACTED\])[A-Za-z0-9\-._~+/]+=*")
_TOKEN_PATTERNS = (
    re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),  # a JWT
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,})"),  # GitHub
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),  # OpenAI, Anthropic and friends
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{8,}"),  # Slack
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
)
# `GITHUB_TOKEN=...`, `password: ...`: keep the name, mask the value.
_ASSIGNMENT = re.compile(
    r"(?i)(\b\w*(?:token|secret|password|passwd|api[_-]?key|credential)\w*)(\s*[:=]\s*)"
    r"(?!\[REDACTED\])[^\s,\"';]+"
)


def is_sensitive_key(key: str) -> bool:
    normalized = key.strip().lower().replace("-", "_")
    return any(part in normalized for part in SENSITIVE_KEY_PARTS)


def mask_text(text: str) -> str:
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(REDACTED, text)
    text = _ASSIGNMENT.sub(rf"\1\2{REDACTED}", text)
    limit = int(settings.CONDUCTOR["AUDIT_MAX_TEXT"])
    if len(text) > limit:
        return f"{text[:limit]}…{TRUNCATED} ({len(text) - limit} more characters)"
    return text


def sanitize(value: Any, depth: int = 0) -> Any:
    """A copy of a JSON value that is safe and small enough to log."""
    if depth > MAX_DEPTH:
        return TRUNCATED
    if isinstance(value, dict):
        items = list(value.items())
        clean = {
            str(key): REDACTED if is_sensitive_key(str(key)) else sanitize(item, depth + 1)
            for key, item in items[:MAX_ITEMS]
        }
        if len(items) > MAX_ITEMS:
            clean[TRUNCATED] = f"{len(items) - MAX_ITEMS} more keys"
        return clean
    if isinstance(value, list):
        clean_list = [sanitize(item, depth + 1) for item in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            clean_list.append(f"{TRUNCATED} {len(value) - MAX_ITEMS} more items")
        return clean_list
    if isinstance(value, str):
        return mask_text(value)
    return value


# Writing: one os.write of the whole line on an O_APPEND descriptor, so lines from several
# processes never interleave; the lock keeps this process's threads in turn as well.
_write_lock = threading.Lock()


def audit_log_path() -> Path:
    return Path(settings.DATA_DIR) / "_audit" / "form-submissions.jsonl"


def audit_append(*records: dict[str, Any], path: Path | None = None) -> None:
    """Append the records' lines in one write and one fsync (a batch of bus posts shares
    them); nothing to do for no records."""
    if not records:
        return
    path = Path(path or audit_log_path())
    lines = b"".join(
        (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        for record in records
    )
    with _write_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            written = os.write(fd, lines)
            if written != len(lines):
                raise OSError(f"short write to {path}: {written} of {len(lines)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)
