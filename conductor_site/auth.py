"""Authentication: the API key for the API, Django users for the dashboard; both off unless a
key is configured.

The key comes from `--api-key`, else `CONDUCTOR_API_KEY`, else the config file
(`conductor_site.config`). Health, version, metrics, the web UI and its assets, and CORS
preflights never need it; everything else does, the SSE streams included. With a key, the
dashboard's pages (under /ui/) need a signed-in Django user instead (`DashboardSignInMiddleware`).

The dashboard's own JavaScript calls a few API routes with that session instead of the key:
the same views, mounted again under /ui/api/v1/ by `session_api_urls`, where Django's CSRF
check applies (DRF's views skip it, as views authenticated by a key must).
"""

from __future__ import annotations

import copy
import hmac
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver

from conductor_site.errors import error_json

EXEMPT_PATHS = ("/api/v1/health", "/api/v1/version", "/metrics", "/ui")
EXEMPT_PREFIXES = ("/ui/", "/static/")
UNAUTHORIZED = {"error": "unauthorized", "message": "valid API key required"}


def presented_key(headers: Mapping[str, str]) -> str:
    """The key in `Authorization: Bearer` or `X-API-Key`; `headers` as `request.headers`, or
    a WebSocket scope's headers with lower-case names (never a URL: it would be logged)."""
    return key_in(
        headers.get("Authorization", headers.get("authorization", "")),
        headers.get("X-API-Key", headers.get("x-api-key", "")),
    )


def key_in(authorization: str, x_api_key: str) -> str:
    """The key a request presents: `Authorization: Bearer <key>`, else `X-API-Key`."""
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return x_api_key


def key_accepted(presented: str) -> bool:
    """True when no key is configured or `presented` is it (compared in constant time: how
    much of a guess matched must not show in the timing)."""
    key = str(settings.CONDUCTOR["API_KEY"])
    return not key or hmac.compare_digest(presented.encode(), key.encode())


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
        if not is_exempt(request) and not key_accepted(presented_key(request.headers)):
            # Compact, byte for byte the contract's body.
            response = JsonResponse(
                UNAUTHORIZED, status=401, json_dumps_params={"separators": (",", ":")}
            )
            response["WWW-Authenticate"] = 'Bearer realm="conductor"'
            return response
        return self.get_response(request)


# The dashboard (pages under /ui/): Django users and sessions whenever auth is on.

SIGN_IN_PATHS = ("/ui/sign-in/", "/ui/first-run/")
SESSION_API_PREFIX = "/ui/api/"


def sign_in_required() -> bool:
    """Auth is on when an API key is configured; the dashboard then needs a signed-in user.
    On the default loopback setup with no key nobody signs in."""
    return bool(settings.CONDUCTOR["API_KEY"])


def from_loopback(request: HttpRequest) -> bool:
    """The request came from this machine (the first-run form is offered only there)."""
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def dashboard_context(request: HttpRequest) -> dict[str, object]:
    """What every page's navigation shows (a template context processor)."""
    from conductor_site.api import conductor_version

    return {"sign_in_required": sign_in_required(), "conductor_version": conductor_version()}


class DashboardSignInMiddleware:
    """Every page under /ui/ but sign-in and first-run needs a signed-in user when auth is
    on: one gate for all pages, so a new page cannot forget it. Static files, the API (its
    key) and the admin (its own sign-in) are not pages of the dashboard."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.path.startswith("/ui/")
            and not request.path.startswith(SIGN_IN_PATHS)
            and sign_in_required()
            and not request.user.is_authenticated
        ):
            if request.path.startswith(SESSION_API_PREFIX):
                return error_json(401, "signed out: sign in to the dashboard again")
            return redirect_to_login(request.get_full_path(), str(settings.LOGIN_URL))
        return self.get_response(request)


def session_api_urls(patterns: Sequence[URLPattern | URLResolver]) -> list[URLPattern]:
    """`patterns` (API routes: a DRF router's, plain patterns all) for the dashboard's pages
    to call with the signed-in session, mounted under /ui/api/v1/. Each view is wrapped in a
    plain function, which is not `csrf_exempt` (DRF's views are), so `CsrfViewMiddleware`
    checks every post's token; nor is it a DRF view, so the OpenAPI schema lists each route
    once, under /api/v1/. Unnamed: `reverse()` keeps naming the API's own routes."""
    return [
        URLPattern(_unnamed(pattern.pattern), _with_session(pattern.callback), pattern.default_args)
        for pattern in patterns
        if isinstance(pattern, URLPattern)
    ]


def _unnamed(pattern: Any) -> Any:
    copied = copy.copy(pattern)
    copied.name = None
    return copied


def _with_session(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    def view_with_session(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        return view(request, *args, **kwargs)

    return view_with_session
