"""API key authentication: off unless a key is configured.

The key comes from `--api-key`, else `CONDUCTOR_API_KEY`, else the config file
(`conductor_site.config`). Health, version, metrics, the web UI and its assets, and CORS
preflights never need it; everything else does, the SSE streams included.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

EXEMPT_PATHS = ("/api/v1/health", "/api/v1/version", "/metrics", "/ui")
EXEMPT_PREFIXES = ("/ui/", "/static/")
UNAUTHORIZED = {"error": "unauthorized", "message": "valid API key required"}


def presented_key(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("X-API-Key", "")


def is_preflight(request: HttpRequest) -> bool:
    """A browser asking whether it may send the real request; it never carries the key."""
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def is_exempt(request: HttpRequest) -> bool:
    path = request.path
    return (
        is_preflight(request)
        or path.rstrip("/") in EXEMPT_PATHS
        or path.startswith(EXEMPT_PREFIXES)
    )


class ApiKeyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = str(settings.CONDUCTOR["API_KEY"])
        if (
            key
            and not is_exempt(request)
            # Constant time: how much of a guess matched must not show in the timing.
            and not hmac.compare_digest(presented_key(request).encode(), key.encode())
        ):
            # Compact, byte for byte the contract's body.
            response = JsonResponse(
                UNAUTHORIZED, status=401, json_dumps_params={"separators": (",", ":")}
            )
            response["WWW-Authenticate"] = 'Bearer realm="conductor"'
            return response
        return self.get_response(request)
