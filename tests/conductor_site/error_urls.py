"""The site's URLs plus views that fail on purpose, for `@pytest.mark.urls`."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import path
from django.views import View
from django.views.decorators.http import require_POST
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor_site.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


class BrokenApi(APIView):
    def get(self, request: Request) -> Response:
        raise RuntimeError("a bug in an API view")


def broken_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a plain view")


class GetOnlyView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")


@require_POST
def form_view(request: HttpRequest) -> HttpResponse:
    """A plain view with Django's CSRF protection (DRF views are exempt)."""
    return HttpResponse("posted")


def forbidden_view(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("not yours")


def missing_view(request: HttpRequest) -> HttpResponse:
    raise Http404("no such thing")


def bad_text_view(request: HttpRequest) -> HttpResponse:
    return HttpResponseBadRequest("the widget is upside down", content_type="text/plain")


def bad_html_view(request: HttpRequest) -> HttpResponse:
    return HttpResponseBadRequest("<h1>Bad Request (400)</h1>")


urlpatterns = [
    path("test/broken-api", BrokenApi.as_view()),
    path("test/broken-view", broken_view),
    path("test/get-only", GetOnlyView.as_view()),
    path("test/form", form_view),
    path("test/forbidden", forbidden_view),
    path("test/missing", missing_view),
    path("test/bad-text", bad_text_view),
    path("test/bad-html", bad_html_view),
    *urlpatterns,
]
