"""`/api/v1/images`: images attached to tasks (`tasks.images`), a DRF viewset on the router.

Uploads are multipart (`image`, `project_id`, `task_id`); a body larger than the image cap
allows is refused from its `Content-Length`, before it is read."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from conductor_site.errors import ApiError
from conductor_site.http import Paged, checked_ids
from conductor_site.ids import identifier_field
from conductor_site.openapi import errors, id_parameter, path_parameters
from conductor_site.params import query_identifier
from tasks import images
from tasks.models import Image, Task

# What a multipart body holds besides the image: boundaries, headers, the two ids.
MULTIPART_SLACK = 64 * 1024
MIME_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


class ImageSerializer(serializers.ModelSerializer):
    project_id = serializers.CharField(source="task.project_id")
    task_id = serializers.CharField(source="task.task_id")
    worktree_path = serializers.SerializerMethodField(
        help_text="Where the agent finds it, relative to its working directory."
    )

    class Meta:
        model = Image
        fields = [
            "id",
            "project_id",
            "task_id",
            "file_name",
            "worktree_path",
            "original_name",
            "mime_type",
            "size_bytes",
            "sha256",
            "created_at",
        ]

    def get_worktree_path(self, image: Image) -> str:
        return images.worktree_path(image)


class ImageUploadSerializer(serializers.Serializer):
    project_id = identifier_field()
    task_id = identifier_field()
    image = serializers.FileField(allow_empty_file=False)


ID = path_parameters("id")
LIST_FILTERS = [
    id_parameter("project_id", "Only this project's images."),
    id_parameter("task_id", "Only this task's images (with project_id)."),
]


@extend_schema_view(
    list=extend_schema(operation_id="images_list", parameters=LIST_FILTERS),
    create=extend_schema(
        operation_id="image_upload",
        request={"multipart/form-data": ImageUploadSerializer},
        responses={201: ImageSerializer, **errors(400, 404, 409, 413, 415)},
    ),
    retrieve=extend_schema(
        operation_id="image_get",
        parameters=ID,
        responses={200: ImageSerializer, **errors(400, 404)},
    ),
    destroy=extend_schema(
        operation_id="image_delete", parameters=ID, responses={204: None, **errors(400, 404)}
    ),
)
@extend_schema(tags=["images"])
class ImageViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Images attached to tasks. Each attempt's agent finds its task's images in
    `.conductor/images/` of its working directory, and its prompt names them."""

    serializer_class = ImageSerializer
    pagination_class = Paged
    parser_classes = [MultiPartParser]  # the upload; no other action reads a body
    lookup_url_kwarg = "id"
    lookup_value_converter = "str"

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        """`Accept: image/*` must not be refused (406) by the file route; errors are JSON."""
        return super().perform_content_negotiation(request, force=True)

    def get_queryset(self) -> QuerySet[Image]:
        found = Image.objects.select_related("task")
        project_id = query_identifier(self.request, "project_id")
        task_id = query_identifier(self.request, "task_id")
        if project_id is not None:
            found = found.filter(task__project_id=project_id)
        if task_id is not None:
            found = found.filter(task__task_id=task_id)
        return found

    def get_object(self) -> Image:
        checked_ids(id=self.kwargs["id"])
        return super().get_object()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        limit = images.image_max_bytes()
        if _content_length(request) > limit + MULTIPART_SLACK:
            raise ApiError(413, f"the image is larger than {limit} bytes", limit=limit)
        data = ImageUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        task = _task(fields["project_id"], fields["task_id"])
        image = images.image_upload(task, fields["image"])
        return Response(ImageSerializer(image).data, status=201)

    def perform_destroy(self, instance: Image) -> None:
        images.image_delete(instance)

    @extend_schema(
        operation_id="image_file",
        parameters=ID,
        responses={
            **{(200, mime): OpenApiTypes.BINARY for mime in MIME_TYPES},
            **errors(400, 404),
        },
    )
    @action(detail=True, methods=["get"], url_path="file")
    def file(self, request: Request, **kwargs: str) -> HttpResponse:
        """The image's bytes, as the type its bytes were checked to be."""
        image = self.get_object()
        data = images.image_bytes(image)
        if data is None:
            raise ApiError(404, f"the file of image {image.id!r} is gone")
        response = HttpResponse(data, content_type=image.mime_type)
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Content-Disposition"] = f'inline; filename="{image.file_name}"'
        return response


def _task(project_id: str, task_id: str) -> Task:
    task = Task.objects.filter(project_id=project_id, task_id=task_id).first()
    if task is None:
        raise ApiError(404, f"task {task_id!r} not found in project {project_id!r}")
    return task


def _content_length(request: Request) -> int:
    """The declared body length; 0 when absent or not a number (the parser then decides)."""
    raw = str(request.META.get("CONTENT_LENGTH") or "")
    return int(raw) if raw.isdigit() else 0
