"""Pages for people. `/ui/` is where Conductor Loop serves its web UI; Conductor does not
bundle that UI, so the page says so and points to what a person can use instead."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from conductor_site.api import conductor_version


@require_safe
def ui_home(request: HttpRequest) -> HttpResponse:
    return render(request, "ui/index.html", {"version": conductor_version()})
