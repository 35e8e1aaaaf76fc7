"""Pieces of the OpenAPI schema that every app's views share: identifier parameters, the error
responses (the `Error` component, added by `conductor_site.errors.error_responses_in_schema`)
the `{items, total, limit, offset, has_more}` page envelope, and the file routes' parameters and
answers (`conductor_site.http.file_response`).

Each app describes its own response shapes in its `openapi.py`; the views say which they answer
with `@extend_schema`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from conductor_site.ids import IDENTIFIER_RE
from conductor_site.params import QUERY_INT_MAX

ID_SCHEMA = {"type": "string", "pattern": IDENTIFIER_RE.pattern.replace(r"\Z", "$")}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_MEANINGS = {
    400: "Bad request: an invalid id, parameter or body",
    403: "Refused to a browser context (web UI, Origin, fetch metadata or session)",
    404: "Not found",
    409: "Conflict with the current state",
    503: "Task execution is disabled on this server",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The documented error statuses of an operation, each in the one error shape."""
    return {code: OpenApiResponse(ERROR_REF, description=ERROR_MEANINGS[code]) for code in codes}


def error_objects(*codes: int) -> dict[str, dict[str, Any]]:
    """`errors()` as raw OpenAPI response objects, for operations a hook writes itself."""
    return {
        str(code): {
            "description": ERROR_MEANINGS[code],
            "content": {"application/json": {"schema": ERROR_REF}},
        }
        for code in codes
    }


def path_parameters(*names: str) -> list[OpenApiParameter]:
    """Path parameters that are identifiers (`project_id`, `task_id`, `run_id`)."""
    return [
        OpenApiParameter(name, ID_SCHEMA, OpenApiParameter.PATH, required=True) for name in names
    ]


def id_parameter(name: str, description: str, *, required: bool = False) -> OpenApiParameter:
    return OpenApiParameter(name, ID_SCHEMA, required=required, description=description)


def int_parameter(name: str, description: str, *, minimum: int) -> OpenApiParameter:
    """`conductor_site.params.query_int`: outside `minimum`..`QUERY_INT_MAX` is a 400."""
    schema = {"type": "integer", "minimum": minimum, "maximum": QUERY_INT_MAX}
    return OpenApiParameter(name, schema, description=description)


def bool_parameter(name: str, description: str) -> OpenApiParameter:
    """Accepts `1/true/yes/on` and `0/false/no/off` (any case); anything else is a 400."""
    return OpenApiParameter(name, OpenApiTypes.BOOL, description=description)


def page_of(name: str, item: serializers.Serializer) -> serializers.Serializer:
    """The page envelope of the project API's lists, around `item` (given with `many=True`)."""
    fields: dict[str, Any] = {
        "items": item,
        "total": serializers.IntegerField(help_text="How many match, on every page."),
        "limit": serializers.IntegerField(),
        "offset": serializers.IntegerField(),
        "has_more": serializers.BooleanField(),
    }
    return inline_serializer(name, fields)


PAGE_PARAMETERS = [
    int_parameter("limit", "Page size (default 50, at most 500: larger is capped).", minimum=1),
    int_parameter("offset", "Items to skip.", minimum=0),
]


def file_parameters(names: Iterable[str]) -> list[OpenApiParameter]:
    """`?name=` (one of `names`, else 400) and `?tail=` of the file routes."""
    return [
        OpenApiParameter("name", OpenApiTypes.STR, enum=list(names), required=True),
        int_parameter("tail", "Only the last N lines.", minimum=0),
    ]


class FileSerializer(serializers.Serializer):
    """A task or run file as JSON (for the web UI, or `Accept: application/json`)."""

    name = serializers.CharField()
    content = serializers.CharField()
    modified = serializers.DateTimeField(allow_null=True)
    size_bytes = serializers.IntegerField(help_text="Of the whole file.")


FILE_RESPONSES = {
    (200, "text/plain"): OpenApiTypes.STR,
    (200, "application/json"): FileSerializer,
}
