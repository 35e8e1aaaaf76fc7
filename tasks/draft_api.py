"""`/api/v1/drafts`: an attempt's follow-up draft (`tasks.drafts`), by attempt id; a DRF
viewset on the router. `/api/v1/attempts/<id>/draft` (the attempts viewset's action,
`tasks/attempt_api.py`) answers the same, through `draft_put` and `DraftSerializer`."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from conductor_site.errors import ApiError
from conductor_site.http import Paged, checked_ids
from conductor_site.openapi import errors, id_parameter, path_parameters
from conductor_site.params import query_identifier
from runs.models import Attempt
from tasks.drafts import draft_save
from tasks.models import Draft


class DraftSerializer(serializers.ModelSerializer):
    attempt_id = serializers.CharField(read_only=True)

    class Meta:
        model = Draft
        fields = ["attempt_id", "prompt", "queued", "version", "created_at", "updated_at"]


class DraftSavedSerializer(DraftSerializer):
    sent_run_id = serializers.CharField(
        allow_null=True,
        read_only=True,
        help_text="A queued draft saved while the attempt is idle is sent at once as its "
        "follow-up: that run (the draft is then gone); else null.",
    )

    class Meta(DraftSerializer.Meta):
        fields = [*DraftSerializer.Meta.fields, "sent_run_id"]


class DraftSaveSerializer(serializers.Serializer):
    prompt = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=1_000_000)
    queued = serializers.BooleanField(default=False)
    version = serializers.IntegerField(
        min_value=0,
        max_value=2**31 - 2,  # the next one is stored, in PostgreSQL's integer
        help_text="The version read (0 when there was no draft); a stale one is a 409.",
    )


ATTEMPT = path_parameters("attempt_id")


@extend_schema_view(
    list=extend_schema(
        operation_id="drafts_list",
        parameters=[id_parameter("attempt_id", "Only this attempt's draft.")],
    ),
    retrieve=extend_schema(
        operation_id="draft_get",
        parameters=ATTEMPT,
        responses={200: DraftSerializer, **errors(400, 404)},
    ),
    update=extend_schema(
        operation_id="draft_save",
        parameters=ATTEMPT,
        request=DraftSaveSerializer,
        responses={200: DraftSavedSerializer, **errors(400, 404, 409)},
    ),
    destroy=extend_schema(
        operation_id="draft_delete", parameters=ATTEMPT, responses={204: None, **errors(400, 404)}
    ),
)
@extend_schema(tags=["drafts"])
class DraftViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """One draft per attempt, by attempt id. `PUT` saves with the version read (0 for a new
    draft) and answers the next version; a stale version is a 409."""

    serializer_class = DraftSerializer
    pagination_class = Paged
    lookup_field = "attempt_id"
    lookup_value_converter = "str"
    http_method_names = ["get", "put", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Draft]:
        attempt_id = query_identifier(self.request, "attempt_id")
        drafts = Draft.objects.all()
        return drafts if attempt_id is None else drafts.filter(attempt_id=attempt_id)

    def get_object(self) -> Draft:
        checked_ids(attempt_id=self.kwargs["attempt_id"])
        return super().get_object()

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        attempt_id = self.kwargs["attempt_id"]
        checked_ids(attempt_id=attempt_id)
        attempt = Attempt.objects.filter(id=attempt_id).first()
        if attempt is None:
            raise ApiError(404, f"attempt {attempt_id!r} not found")
        return draft_put(attempt, request)


def draft_put(attempt: Attempt, request: Request) -> Response:
    """Save the draft from the version the body names; the draft as saved, with the run it
    was sent as when it was queued on an idle attempt."""
    data = DraftSaveSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    draft, sent = draft_save(attempt, **data.validated_data)
    return Response({**DraftSerializer(draft).data, "sent_run_id": sent.id if sent else None})
