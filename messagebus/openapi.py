"""The message bus and the SSE streams in the OpenAPI schema.

The REST routes (`messagebus.api`) describe themselves with `@extend_schema` and the shapes
below. The streams are plain async Django views, which drf-spectacular cannot see: the
postprocessing hook `streams_in_schema` writes their operations from `STREAMS`, one entry per
view of `messagebus.stream_urls` and `runs.stream_urls`, and warns (failing the schema test)
about a stream it does not know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.drainage import warn
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from conductor_site.openapi import ID_SCHEMA, error_objects, int_parameter
from messagebus import stream_urls
from runs import stream_urls as run_stream_urls
from runs.files import RUN_FILES


class MessageSerializer(serializers.Serializer):
    """`messagebus.selectors.message_to_api`: every list item and stream event."""

    msg_id = serializers.CharField(help_text="Sorts in append order; the lists' cursor.")
    timestamp = serializers.DateTimeField()
    ts = serializers.DateTimeField(help_text="The same as timestamp.")
    type = serializers.CharField()
    project_id = serializers.CharField()
    task_id = serializers.CharField(allow_null=True, help_text="null on the project bus.")
    run_id = serializers.CharField(allow_null=True)
    parents = serializers.ListField(child=serializers.CharField())
    meta = serializers.DictField(child=serializers.CharField())
    body = serializers.CharField()


class MessageListSerializer(serializers.Serializer):
    messages = MessageSerializer(many=True, help_text="Oldest first.")


class MessageAppendedSerializer(serializers.Serializer):
    msg_id = serializers.CharField()
    timestamp = serializers.DateTimeField()


MESSAGE_LIST_PARAMETERS = [
    OpenApiParameter(
        name,
        ID_SCHEMA,
        description="Only messages after this msg_id (exclusive); an unknown one is a 404. "
        "`after` and `since` are the same cursor.",
    )
    for name in ("after", "since")
] + [int_parameter("limit", "Only the last N messages after the cursor.", minimum=1)]


# The streams.

EVENT_STREAM = {"text/event-stream": {"schema": {"type": "string"}}}
ROUTE_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass(frozen=True)
class Cursor:
    """What `Last-Event-ID` and the cursor query parameters hold."""

    schema: dict[str, Any]
    description: str
    names: tuple[str, ...] = ("after",)


@dataclass(frozen=True)
class Stream:
    operation_id: str
    summary: str
    events: str
    query: tuple[dict[str, Any], ...] = ()
    cursor: Cursor | None = None
    errors: tuple[int, ...] = (400, 404)


def _query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict:
    return {
        "in": "query",
        "name": name,
        "schema": schema,
        "description": description,
        "required": required,
    }


BUS_EVENTS = (
    "One unnamed event per message, oldest first: its data is the message as the lists give it "
    "(JSON), its `id:` the msg_id. Replays the bus after the cursor (all of it without one), "
    "then follows live."
)
BUS_CURSOR = Cursor(
    ID_SCHEMA, "A msg_id: replay what came after it (404 if unknown).", ("after", "since")
)
STREAMS = {
    "all_runs_stream": Stream(
        "runs_stream_all",
        "Every run's changes",
        "Unnamed `run_created`, `run_started` and `run_updated` events, and named `status` and "
        "`log` events for the web UI; each `id:` is the RFC 3339 time of the change. Without a "
        "cursor the stream starts 5 s back.",
        cursor=Cursor(
            {"type": "string", "format": "date-time"}, "An RFC 3339 time: replay what followed."
        ),
        errors=(400,),
    ),
    "run_log_stream": Stream(
        "run_log_stream",
        "A run's log",
        "Unnamed JSON events: `log` (one line, `id: <seq>:<line>`), `status` and, once the run "
        "ended, `done`; the response then ends.",
        cursor=Cursor(
            {"type": "string", "pattern": "^[0-9]{1,18}:[0-9]{1,18}$"},
            "`<seq>:<line>`: resume after that line.",
        ),
    ),
    "messages_stream": Stream(
        "messages_stream",
        "A project's buses merged, or a task's bus",
        BUS_EVENTS,
        query=(
            _query("project_id", ID_SCHEMA, "The project.", required=True),
            _query("task_id", ID_SCHEMA, "Only this task's bus."),
        ),
        cursor=BUS_CURSOR,
    ),
    "project_messages_stream": Stream(
        "project_messages_stream",
        "The project bus and its task buses, merged",
        BUS_EVENTS,
        cursor=BUS_CURSOR,
    ),
    "task_messages_stream": Stream(
        "task_messages_stream", "A task's bus", BUS_EVENTS, cursor=BUS_CURSOR
    ),
    "task_runs_stream": Stream(
        "task_runs_stream",
        "Every run of a task, fanned in",
        "Named `log` events (`{run_id, stream, line, timestamp}`, `id: <run_id>:<seq>:<line>`), "
        "`run_start` and `run_end`. Does not end by itself.",
        cursor=Cursor(
            {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}:[0-9]{1,18}:[0-9]{1,18}$"},
            "`<run_id>:<seq>:<line>`: skip that run's lines up to it.",
        ),
    ),
    "run_file_stream": Stream(
        "run_file_stream",
        "A run's file, live",
        "The file's raw text from byte 0 in unnamed events (no `id:`), then `event: done` once "
        "the run ended and everything was sent; the response then ends.",
        query=(_query("name", {"type": "string", "enum": list(RUN_FILES)}, "The file.", True),),
    ),
}


def streams_in_schema(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A drf-spectacular postprocessing hook: adds the SSE streams' operations."""
    paths = result.setdefault("paths", {})
    for route, pattern in _stream_routes():
        view_name = pattern.callback.__name__
        stream = STREAMS.get(view_name)
        if stream is None:
            warn(f"the SSE view {view_name} ({route}) has no entry in messagebus.openapi.STREAMS")
            continue
        path = ROUTE_PARAMETER.sub(r"{\1}", route)
        paths[path] = {"get": _operation(stream, ROUTE_PARAMETER.findall(route))}
    result["paths"] = dict(sorted(paths.items()))
    return result


def _stream_routes() -> list[tuple[str, URLPattern]]:
    """(full route, pattern) of each stream, wherever the root URLconf includes them."""
    return [
        (route, pattern)
        for route, pattern in _routes(get_resolver().url_patterns, "/")
        if pattern in stream_urls.urlpatterns or pattern in run_stream_urls.urlpatterns
    ]


def _routes(patterns: list[Any], prefix: str) -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            found.append((route, pattern))
    return found


def _operation(stream: Stream, path_names: list[str]) -> dict[str, Any]:
    parameters = [
        {"in": "path", "name": name, "schema": ID_SCHEMA, "required": True} for name in path_names
    ]
    parameters += stream.query
    if stream.cursor is not None:
        cursor = stream.cursor
        parameters.append(
            {
                "in": "header",
                "name": "Last-Event-ID",
                "schema": cursor.schema,
                "description": f"{cursor.description} Wins over the query parameters.",
            }
        )
        parameters += [_query(name, cursor.schema, cursor.description) for name in cursor.names]
    return {
        "operationId": stream.operation_id,
        "summary": stream.summary,
        "description": "Server-sent events, with a `: keepalive` comment after 15 s of silence. "
        "Errors come before the stream starts, as JSON.",
        "tags": ["streams"],
        "parameters": parameters,
        "security": spectacular_settings.SECURITY,
        "responses": {
            "200": {"description": stream.events, "content": EVENT_STREAM},
            **error_objects(*stream.errors),
        },
    }
