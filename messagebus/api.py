"""The message bus over REST: `/api/v1/messages` and the project and task bus routes.

Every list answers `{"messages": [...]}`, oldest first, and takes the cursor as `after` (the
document's name) or `since` (what the real UI sends), plus `limit` (the last N after it).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor_site.errors import ApiError
from conductor_site.http import validated_body
from conductor_site.ids import is_identifier
from conductor_site.openapi import errors, id_parameter, path_parameters
from conductor_site.params import query_int
from messagebus import openapi
from messagebus.selectors import BusNotFound, UnknownCursor, message_to_api, messages_after
from messagebus.services import TYPE_MAX_LENGTH, MessageInvalid, message_append
from runs.selectors import rfc3339

PARENTS_MAX = 100  # a message answers a few others; each is looked up when it is posted


class StringField(serializers.CharField):
    """A JSON string and nothing else: DRF's CharField would turn `5` into `"5"`."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


@extend_schema_serializer(component_name="MessagePost")
class MessageInput(serializers.Serializer):
    """`{type?, body}`: a blank or missing type is `USER`; the body must not be blank."""

    type = StringField(
        max_length=TYPE_MAX_LENGTH, required=False, allow_blank=True, allow_null=True
    )
    body = StringField(trim_whitespace=False)

    def validate_type(self, value: str | None) -> str:
        return value or "USER"

    def validate_body(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"type": "USER", **attrs}


def _id_or_none(value: str | None, name: str) -> str | None:
    """Absent, null or "" mean none; anything else must be a valid identifier."""
    if value in (None, ""):
        return None
    if not is_identifier(value):
        raise serializers.ValidationError(f"invalid {name} {value!r}")
    return value


class MessagesApi(APIView):
    """`GET /api/v1/messages?project_id=&task_id=&after=`, `POST /api/v1/messages`."""

    @extend_schema_serializer(component_name="V1MessagePost")
    class InputSerializer(MessageInput):
        project_id = StringField()
        task_id = StringField(required=False, allow_null=True, allow_blank=True)
        run_id = StringField(required=False, allow_null=True, allow_blank=True)
        parents = serializers.ListField(
            child=StringField(), required=False, default=list, max_length=PARENTS_MAX
        )
        meta = serializers.DictField(required=False, default=dict)

        def validate_project_id(self, value: str) -> str:
            if not is_identifier(value):
                raise serializers.ValidationError(f"invalid project_id {value!r}")
            return value

        def validate_task_id(self, value: str | None) -> str | None:
            return _id_or_none(value, "task_id")

        def validate_run_id(self, value: str | None) -> str | None:
            return _id_or_none(value, "run_id")

    @extend_schema(
        operation_id="messages_list",
        tags=["messages"],
        parameters=[
            id_parameter("project_id", "The project (required).", required=True),
            id_parameter(
                "task_id", "Only this task's bus; without it, the project's buses merged."
            ),
            *openapi.MESSAGE_LIST_PARAMETERS,
        ],
        responses={200: openapi.MessageListSerializer, **errors(400, 404)},
    )
    def get(self, request: Request) -> Response:
        project_id = request.query_params.get("project_id", "")
        if not project_id:
            raise ApiError(400, "project_id is required")
        task_id = request.query_params.get("task_id") or None
        return _listed(request, path_ids(project_id, task_id))

    @extend_schema(
        operation_id="message_post",
        tags=["messages"],
        request=InputSerializer,
        responses={201: openapi.MessageAppendedSerializer, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        return _appended(validated_body(self.InputSerializer, request))


class ProjectMessagesApi(APIView):
    """`GET/POST /api/projects/<p>/messages`: the project bus merged with its task buses."""

    class InputSerializer(MessageInput):
        pass

    @extend_schema(
        operation_id="project_messages_list",
        tags=["messages"],
        parameters=[*path_parameters("project_id"), *openapi.MESSAGE_LIST_PARAMETERS],
        responses={200: openapi.MessageListSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, project_id: str) -> Response:
        return _listed(request, path_ids(project_id))

    @extend_schema(
        operation_id="project_message_post",
        tags=["messages"],
        parameters=path_parameters("project_id"),
        request=MessageInput,
        responses={201: openapi.MessageAppendedSerializer, **errors(400)},
    )
    def post(self, request: Request, project_id: str) -> Response:
        fields = validated_body(self.InputSerializer, request)
        return _appended({**fields, **path_ids(project_id)})


class TaskMessagesApi(APIView):
    """`GET/POST /api/projects/<p>/tasks/<t>/messages`: the task's own bus."""

    class InputSerializer(MessageInput):
        pass

    @extend_schema(
        operation_id="task_messages_list",
        tags=["messages"],
        parameters=[*path_parameters("project_id", "task_id"), *openapi.MESSAGE_LIST_PARAMETERS],
        responses={200: openapi.MessageListSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, project_id: str, task_id: str) -> Response:
        return _listed(request, path_ids(project_id, task_id))

    @extend_schema(
        operation_id="task_message_post",
        tags=["messages"],
        parameters=path_parameters("project_id", "task_id"),
        request=MessageInput,
        responses={201: openapi.MessageAppendedSerializer, **errors(400)},
    )
    def post(self, request: Request, project_id: str, task_id: str) -> Response:
        fields = validated_body(self.InputSerializer, request)
        return _appended({**fields, **path_ids(project_id, task_id)})


def path_ids(project_id: str, task_id: str | None = None) -> dict[str, Any]:
    if not is_identifier(project_id):
        raise ApiError(400, f"invalid project_id {project_id!r}")
    if task_id is not None and not is_identifier(task_id):
        raise ApiError(400, f"invalid task_id {task_id!r}")
    return {"project_id": project_id, "task_id": task_id}


def list_params(request: Request) -> dict[str, Any]:
    """`after` or `since` (the same exclusive cursor; "" means none) and `limit` (>= 1)."""
    params = request.query_params
    after, since = params.get("after") or None, params.get("since") or None
    if after and since and after != since:
        raise ApiError(400, "give the cursor as either after or since, not both")
    limit = query_int(request, "limit", 0, low=1, high=None) or None
    return {"after": after or since, "limit": limit}


def _listed(request: Request, ids: dict[str, Any]) -> Response:
    try:
        messages = messages_after(**ids, **list_params(request))
    except UnknownCursor as exc:
        raise ApiError(404, str(exc), msg_id=exc.msg_id) from exc
    except BusNotFound as exc:
        raise ApiError(404, str(exc)) from exc
    return Response({"messages": [message_to_api(message) for message in messages]})


def _appended(fields: dict[str, Any]) -> Response:
    try:
        message = message_append(**fields, make_bus=True)
    except MessageInvalid as exc:
        raise ApiError(400, str(exc)) from exc
    return Response(
        {"msg_id": message.msg_id, "timestamp": rfc3339(message.created_at)}, status=201
    )
