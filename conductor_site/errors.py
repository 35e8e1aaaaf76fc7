"""The one error shape: `{"error": "<message>", "code": "<MACHINE_CODE>", "details": {...}}`.

Every error is JSON, never an HTML page: DRF's exceptions go through `api_exception_handler`,
Django's own errors through the handlers and views below, and any other error response
(a 405 from a plain view, a 400 from `DisallowedHost`) through `JsonErrorMiddleware`.
The exceptions: the 401, whose body the contract fixes (`conductor_site.auth`), and the pages
for people (the admin, the dashboard under `/ui/`), whose errors stay pages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from conductor_site.audit import request_id_of
from conductor_site.renderers import JSONRenderer

log = logging.getLogger("conductor.errors")

CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    410: "GONE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    500: "INTERNAL_ERROR",
    503: "UNAVAILABLE",
}
INTERNAL_ERROR = "internal server error; see the server log"


class ApiError(exceptions.APIException):
    """Raise from a view: `raise ApiError(409, "task is still running")`."""

    def __init__(self, status_code: int, message: str, **details: Any) -> None:
        self.status_code = status_code
        self.message = message
        self.details = details
        super().__init__(message)


class DomainError(Exception):
    """A service's refusal, the client's to fix: raised in the domain without knowing HTTP,
    answered by `api_exception_handler` in the one shape with `status_code`."""

    status_code = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def error_body(status_code: int, message: str, details: dict[str, Any] | None = None) -> dict:
    return {"error": message, "code": CODES.get(status_code, "ERROR"), "details": details or {}}


def too_large_body() -> dict[str, Any]:
    """The 413's body: Django's `RequestDataTooBig` and `conductor_site.body_length` both."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_body(413, f"the request body is larger than {limit} bytes", {"limit": limit})


def error_response(status_code: int, message: str, **details: Any) -> Response:
    """For DRF views."""
    return Response(error_body(status_code, message, details), status=status_code)


def error_json(status_code: int, message: str, **details: Any) -> JsonResponse:
    """For plain Django views and middleware."""
    return JsonResponse(error_body(status_code, message, details), status=status_code)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error of an API view as the JSON error body, also for a browser that asked the
    browsable API for HTML."""
    request = context.get("request")
    if request is not None:
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
    return _error_response(exc, context)


def _error_response(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApiError | DomainError):
        return error_response(exc.status_code, exc.message, **exc.details)
    if isinstance(exc, RequestDataTooBig):
        return Response(too_large_body(), status=413)
    if isinstance(exc, SuspiciousOperation):
        return error_response(400, f"bad request: {exc}")
    response = exception_handler(exc, context)
    if response is None:
        return _unhandled(exc, context)
    if isinstance(exc, exceptions.ValidationError):
        message, details = _validation_message(exc.detail), {"fields": exc.detail}
    elif isinstance(exc, exceptions.ParseError):
        message, details = f"invalid JSON: {exc.detail}", {}
    else:
        message, details = str(getattr(exc, "detail", exc)), {}
    response.data = error_body(response.status_code, message, details)
    return response


def _unhandled(exc: Exception, context: dict[str, Any]) -> Response:
    """A bug in a view: log it with its traceback, answer the JSON 500."""
    request = context["request"]
    request_id = request_id_of(request._request)
    log.error(
        "unhandled exception in %s %s (request %s)",
        request.method,
        request.path,
        request_id,
        exc_info=exc,
    )
    set_rollback()
    return error_response(500, INTERNAL_ERROR, request_id=request_id)


def _validation_message(detail: Any) -> str:
    if isinstance(detail, dict):
        parts = []
        for field, errors in detail.items():
            text = _validation_message(errors)
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
        return "; ".join(parts)
    if isinstance(detail, list):
        return "; ".join(_validation_message(item) for item in detail)
    return str(detail)


# Django's handlers (`handler400` ... in the root URLconf) and `CSRF_FAILURE_VIEW`.


def json_400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_json(400, f"bad request: {exception}" if exception else "bad request")


def json_403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    message = str(exception) if exception and str(exception) else "forbidden"
    return error_json(403, message)


def json_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/ui/"):
        return page_not_found(request, exception or Http404())
    return error_json(404, f"not found: {request.path}")


def json_500(request: HttpRequest) -> JsonResponse:
    return error_json(500, INTERNAL_ERROR, request_id=request_id_of(request))


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    return error_json(403, f"CSRF verification failed: {reason}" if reason else "CSRF failed")


HTML_PREFIXES = ("/admin/", "/ui/")


class JsonErrorMiddleware:
    """Rewrites non-JSON error responses into the error shape, keeping their headers.

    The admin and the dashboard (`/ui/`) keep their HTML pages: they are for people in a
    browser, not for API clients.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or response.streaming
            or response.get("Content-Type", "").startswith("application/json")
            or request.path.startswith(HTML_PREFIXES)
        ):
            return response
        details = {}
        if response.status_code == 405 and response.has_header("Allow"):
            details["allowed"] = [method.strip() for method in response["Allow"].split(",")]
        converted = error_json(response.status_code, _message(request, response), **details)
        for header, value in response.items():
            if header.lower() not in ("content-type", "content-length"):
                converted[header] = value
        return converted


def _message(request: HttpRequest, response: HttpResponse) -> str:
    if response.status_code == 405:
        return f"method {request.method} not allowed on {request.path}"
    if response.status_code == 404:
        return f"not found: {request.path}"
    if response.get("Content-Type", "").startswith("text/plain"):
        text = response.content.decode(errors="replace").strip()
        if text and len(text) <= 500:
            return text
    return response.reason_phrase.lower()


# The error shapes in the OpenAPI schema (a drf-spectacular postprocessing hook): every
# operation documents the 401 and, as its `default` response, the error shape.
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "code": {"type": "string"},
        "details": {"type": "object", "additionalProperties": True},
    },
    "required": ["error"],
}
UNAUTHORIZED_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error", "message"],
}


def error_responses_in_schema(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    from conductor_site.auth import EXEMPT_PATHS

    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["Unauthorized"] = UNAUTHORIZED_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.setdefault("default", _schema_response("An error", "Error"))
            if path in EXEMPT_PATHS:
                operation["security"] = []
            else:
                responses.setdefault("401", _schema_response("No valid API key", "Unauthorized"))
    return result


def _schema_response(description: str, name: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
    }
