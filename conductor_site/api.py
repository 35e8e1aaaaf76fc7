from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def conductor_version() -> str:
    try:
        return version("conductor")
    except PackageNotFoundError:
        return "dev"


class HealthApi(APIView):
    @extend_schema(
        operation_id="health",
        tags=["system"],
        responses=inline_serializer("Health", {"status": serializers.ChoiceField(["ok"])}),
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class VersionApi(APIView):
    @extend_schema(
        operation_id="version",
        tags=["system"],
        responses=inline_serializer("Version", {"version": serializers.CharField()}),
    )
    def get(self, request: Request) -> Response:
        return Response({"version": conductor_version()})
