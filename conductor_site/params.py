"""Query parameters, parsed once and answered with the house error shape when wrong."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from rest_framework.request import Request

from conductor_site.errors import ApiError, error_json
from conductor_site.ids import is_identifier

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
# Larger numbers are refused (400): a database cannot take them as a LIMIT or OFFSET.
QUERY_INT_MAX = 2**31 - 1


def query_int(request: Request, name: str, default: int, *, low: int, high: int | None) -> int:
    """An integer query parameter: absent → `default`; not an integer, below `low` or above
    `QUERY_INT_MAX` → 400; above `high` → `high`."""
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, not {raw!r}") from None
    if value < low:
        raise ApiError(400, f"{name} must be at least {low}")
    if value > QUERY_INT_MAX:
        raise ApiError(400, f"{name} must be at most {QUERY_INT_MAX}")
    return min(value, high) if high is not None else value


def query_bool(request: Request, name: str) -> bool:
    """`1/true/yes/on` or `0/false/no/off/""` (any case); anything else → 400."""
    raw = request.query_params.get(name, "").strip().lower()
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise ApiError(400, f"{name} must be true or false, not {raw!r}")


def query_identifier(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and not is_identifier(value):
        raise ApiError(400, f"invalid {name} {value!r}")
    return value


class NulInUrlMiddleware:
    """A NUL (`%00`) in the path or the query is a 400 for every route: no identifier, cursor
    or filter holds one, and PostgreSQL refuses it in any query (a 500 on each route that
    looks a value up, such as a message cursor)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
            return error_json(400, "the URL holds a NUL (%00)")
        return self.get_response(request)
