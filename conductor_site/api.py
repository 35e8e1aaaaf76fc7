from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def conductor_version() -> str:
    try:
        return version("conductor")
    except PackageNotFoundError:
        return "dev"


class HealthApi(APIView):
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class VersionApi(APIView):
    def get(self, request: Request) -> Response:
        return Response({"version": conductor_version()})
