"""HTTP pieces the routes of every app share: checking ids before any lookup, a JSON body
validated by a serializer, refusing destructive routes to browsers, the page envelope and the
file routes' text-or-JSON answer.

Destructive routes (deleting a run, a task or a project, and garbage collection) answer 403 to
a browser context (CONTRACT.md, AMB-9): see `from_browser`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpResponse
from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor_site.errors import ApiError
from conductor_site.ids import is_identifier
from conductor_site.params import QUERY_INT_MAX, query_int

PAGE_DEFAULT_LIMIT = 50
PAGE_MAX_LIMIT = 500
BROWSER_HEADERS = ("Sec-Fetch-Site", "Sec-Fetch-Mode", "Origin", "Referer")


# Lookups: ids are checked (400) before anything is looked up (404).


def checked_ids(**ids: str) -> None:
    for name, value in ids.items():
        if not is_identifier(value):
            raise ApiError(400, f"invalid {name} {value!r}")


def validated_body(serializer: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """The request's JSON object validated by `serializer` (a 400 in the one shape, each
    field's complaint in `details.fields`); no body is an empty object."""
    if not isinstance(request.data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    data = serializer(data=request.data)
    data.is_valid(raise_exception=True)
    return dict(data.validated_data)


def from_browser(request: Request) -> bool:
    """A browser's fetch metadata, an `Origin` or `Referer`, the web UI's own marker header or
    the dashboard's session cookie. curl and API clients send none of them."""
    headers = request.headers
    return (
        any(name in headers for name in BROWSER_HEADERS)
        or headers.get("X-Conductor-Client", "").strip().lower() == "web-ui"
        or settings.SESSION_COOKIE_NAME in request.COOKIES
    )


def refuse_browser(request: Request, action: str) -> None:
    if from_browser(request):
        raise ApiError(
            403, f"{action} is disabled from the web UI and browsers: use the CLI or curl"
        )


def paged(items: list[dict[str, Any]], total: int, limit: int, offset: int) -> dict[str, Any]:
    """The `{items, total, limit, offset, has_more}` envelope (`conductor_site.openapi.page_of`)."""
    return {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "has_more": offset + len(items) < total,
    }


# Files: raw text for curl and scripts, JSON for the web UI.


class FileApi(APIView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        """`Accept: text/plain` must not be refused (406): errors are JSON regardless."""
        return super().perform_content_negotiation(request, force=True)


def wants_json(request: Request) -> bool:
    """The web UI (its marker header) or a client preferring JSON to text; else text/plain."""
    if request.headers.get("X-Conductor-Client", "").strip().lower() == "web-ui":
        return True
    return request.get_preferred_type(["text/plain", "application/json"]) == "application/json"


def file_response(
    request: Request, name: str, text: str, modified: str | None
) -> HttpResponse | Response:
    """`modified` is already in the API's time form (`runs.selectors.rfc3339`)."""
    tail = query_int(request, "tail", 0, low=0, high=None)
    content = last_lines(text, tail) if tail else text
    if wants_json(request):
        return Response(
            {
                "name": name,
                "content": content,
                "modified": modified,
                "size_bytes": len(text.encode()),
            }
        )
    return HttpResponse(content, content_type="text/plain; charset=utf-8")


def last_lines(text: str, count: int) -> str:
    """The last `count` lines of `text` (a final newline does not start another line)."""
    start = len(text) - 1 if text.endswith("\n") else len(text)
    for _ in range(count):
        start = text.rfind("\n", 0, start)
        if start < 0:
            return text
    return text[start + 1 :]


class Paged(BasePagination):
    """The page envelope and `?limit=&offset=` for DRF viewsets' lists (`paged`)."""

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        self.limit = query_int(request, "limit", PAGE_DEFAULT_LIMIT, low=1, high=PAGE_MAX_LIMIT)
        self.offset = query_int(request, "offset", 0, low=0, high=None)
        self.total = queryset.count()
        return list(queryset[self.offset : self.offset + self.limit])

    def get_paginated_response(self, data: Any) -> Response:
        return Response(paged(list(data), self.total, self.limit, self.offset))

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        integer = {"type": "integer"}
        return {
            "type": "object",
            "required": ["items", "total", "limit", "offset", "has_more"],
            "properties": {
                "items": schema,
                "total": integer,
                "limit": integer,
                "offset": integer,
                "has_more": {"type": "boolean"},
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in (
                ("limit", {"type": "integer", "minimum": 1, "maximum": QUERY_INT_MAX}),
                ("offset", {"type": "integer", "minimum": 0, "maximum": QUERY_INT_MAX}),
            )
        ]
