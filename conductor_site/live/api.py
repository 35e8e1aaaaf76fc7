"""`GET /api/v1/events`: the event log's history, filtered and paged by cursor
(docs/api/events.md); `POST /api/v1/ws-tickets`: a ticket to open a WebSocket with
(docs/api/streams.md)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor_site.errors import ApiError
from conductor_site.live.events import RECORDED_TYPES
from conductor_site.live.history import (
    EventFilter,
    counts_by_type,
    event_to_api,
    events_after,
    filtered,
    newest_id,
)
from conductor_site.live.models import Event
from conductor_site.live.tickets import ticket_issue
from conductor_site.openapi import errors, id_parameter, int_parameter
from conductor_site.params import query_identifier, query_int

EVENTS_DEFAULT_LIMIT = 100
EVENTS_MAX_LIMIT = 1_000


class EventSerializer(serializers.Serializer):
    """`conductor_site.live.history.event_to_api`."""

    id = serializers.IntegerField(help_text="The cursor: pass it as `after`.")
    time = serializers.DateTimeField()
    type = serializers.ChoiceField(RECORDED_TYPES)
    project_id = serializers.CharField()
    task_id = serializers.CharField(allow_null=True)
    attempt_id = serializers.CharField(allow_null=True)
    run_id = serializers.CharField(allow_null=True)
    payload = serializers.DictField(help_text="The live event as it was published.")


class EventPagination(BasePagination):
    """Pages by cursor: the events after `after` (an event id), at most `limit`, with the
    filters' `total` and `counts` by type; `next_after` is the next page's cursor."""

    def page(self, request: Request, filters: EventFilter) -> list[Event]:
        self.after = query_int(request, "after", -1, low=0, high=None)
        self.limit = query_int(request, "limit", EVENTS_DEFAULT_LIMIT, low=1, high=EVENTS_MAX_LIMIT)
        self.filters = filters
        events = events_after(self.after if self.after >= 0 else None, filters)
        page = list(events[: self.limit + 1])
        self.has_more = len(page) > self.limit
        return page[: self.limit]

    def get_paginated_response(self, data: Any) -> Response:
        counts = counts_by_type(filtered(Event.objects.all(), self.filters))
        fallback = self.after if self.after >= 0 else None
        return Response(
            {
                "items": data,
                "total": sum(counts.values()),
                "counts": counts,
                "limit": self.limit,
                "has_more": self.has_more,
                "next_after": data[-1]["id"] if data else fallback,
                "last_id": newest_id(),
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        integer = {"type": "integer"}
        return {
            "type": "object",
            "required": ["items", "total", "counts", "limit", "has_more", "next_after", "last_id"],
            "properties": {
                "items": schema,
                "total": {**integer, "description": "How many match the filters, of all kept."},
                "counts": {"type": "object", "additionalProperties": integer},
                "limit": integer,
                "has_more": {"type": "boolean"},
                "next_after": {
                    **integer,
                    "nullable": True,
                    "description": "The next page's `after`: the last item's id, else `after`.",
                },
                "last_id": {
                    **integer,
                    "description": "The newest event's id, of any filter (0: none): where a "
                    "client that starts over follows from.",
                },
            },
        }


class EventViewSet(viewsets.GenericViewSet):
    """The global events (task, attempt and run changes), oldest first after the cursor."""

    pagination_class = EventPagination
    serializer_class = EventSerializer
    queryset = Event.objects.none()  # for the schema: `list` reads through `history`

    @extend_schema(
        operation_id="events_list",
        tags=["events"],
        parameters=[
            id_parameter("project", "Only this project's events."),
            id_parameter("task", "Only this task's events."),
            OpenApiParameter("type", {"type": "string", "enum": list(RECORDED_TYPES)}),
            int_parameter("after", "An event id: the events after it.", minimum=0),
            int_parameter("limit", f"At most {EVENTS_MAX_LIMIT}.", minimum=1),
        ],
        responses={200: EventSerializer(many=True), **errors(400, 410)},
    )
    def list(self, request: Request) -> Response:
        paginator = EventPagination()
        page = paginator.page(request, self._filters(request))
        return paginator.get_paginated_response([event_to_api(event) for event in page])

    @staticmethod
    def _filters(request: Request) -> EventFilter:
        kind = request.query_params.get("type")
        if kind is not None and kind not in RECORDED_TYPES:
            raise ApiError(400, f"type must be one of {', '.join(RECORDED_TYPES)}")
        return EventFilter(
            project_id=query_identifier(request, "project"),
            task_id=query_identifier(request, "task"),
            type=kind,
        )


class WsTicketSerializer(serializers.Serializer):
    ticket = serializers.CharField(help_text="Pass it as `?ticket=` when opening a WebSocket.")
    expires_at = serializers.DateTimeField()


class WsTicketApi(APIView):
    """A ticket for a browser that cannot send the API key with a WebSocket (no header) and
    has no dashboard session: valid 60 s (`TICKET_SECONDS`), once. The key itself never goes
    in a URL."""

    @extend_schema(
        operation_id="ws_ticket_create",
        tags=["streams"],
        request=None,
        responses={201: WsTicketSerializer},
    )
    def post(self, request: Request) -> Response:
        ticket, expires_at = ticket_issue()
        body = {"ticket": ticket, "expires_at": expires_at.isoformat().replace("+00:00", "Z")}
        return Response(body, status=status.HTTP_201_CREATED)
