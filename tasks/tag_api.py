"""`/api/v1/tags`: reusable prompt snippets (`tasks.tags`), a DRF viewset on the router."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from conductor_site.errors import ApiError
from conductor_site.http import Paged
from conductor_site.openapi import errors
from tasks.models import TAG_NAME_RE, Tag
from tasks.tags import tag_save

SEARCH = OpenApiParameter(
    "search", OpenApiTypes.STR, description="Only tags whose name contains this (any case)."
)
NAME = OpenApiParameter(
    "name",
    {"type": "string", "pattern": TAG_NAME_RE.pattern.replace(r"\Z", "$")},
    OpenApiParameter.PATH,
)


class TagSerializer(serializers.ModelSerializer):
    # Declared, not derived: DRF's own unique check would race; `tag_save` answers 409.
    name = serializers.RegexField(
        TAG_NAME_RE,
        max_length=64,
        error_messages={"invalid": "must be 1-64 of A-Z, a-z, 0-9, '-' or '_'"},
    )
    content = serializers.CharField(trim_whitespace=False, max_length=1_000_000)

    class Meta:
        model = Tag
        fields = ["name", "content", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


@extend_schema_view(
    list=extend_schema(operation_id="tags_list", parameters=[SEARCH], responses=TagSerializer),
    create=extend_schema(
        operation_id="tag_create", responses={201: TagSerializer, **errors(400, 409)}
    ),
    retrieve=extend_schema(
        operation_id="tag_get",
        parameters=[NAME],
        responses={200: TagSerializer, **errors(400, 404)},
    ),
    update=extend_schema(
        operation_id="tag_update",
        parameters=[NAME],
        responses={200: TagSerializer, **errors(400, 404, 409)},
    ),
    partial_update=extend_schema(
        operation_id="tag_patch",
        parameters=[NAME],
        responses={200: TagSerializer, **errors(400, 404, 409)},
    ),
    destroy=extend_schema(
        operation_id="tag_delete", parameters=[NAME], responses={204: None, **errors(400, 404)}
    ),
)
@extend_schema(tags=["tags"])
class TagViewSet(viewsets.ModelViewSet):
    """Tags by name: `@name` in a task's prompt is replaced by the tag's content when the task
    is submitted (`POST /api/v1/tasks`); the stored prompt is the expanded one."""

    serializer_class = TagSerializer
    pagination_class = Paged
    lookup_field = "name"
    lookup_value_converter = "str"

    def get_queryset(self) -> QuerySet[Tag]:
        tags = Tag.objects.all()
        search = self.request.query_params.get("search", "").strip()
        return tags.filter(name__icontains=search) if search else tags

    def get_object(self) -> Tag:
        name = self.kwargs["name"]
        if not TAG_NAME_RE.match(name):
            raise ApiError(400, f"invalid tag name {name!r}")
        return super().get_object()

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = tag_save(Tag(**serializer.validated_data))

    def perform_update(self, serializer: Any) -> None:
        tag = serializer.instance
        for field, value in serializer.validated_data.items():
            setattr(tag, field, value)
        tag_save(tag)
