"""`/metrics`: the contract's `conductor_*` metrics beside django-prometheus's own.

The run and message counts come from the database, counted from this server's start, so
runs that a separate `conductor worker` process finishes are counted too. Only the request
counter lives in this process. This module is imported when the middleware chain is built,
at server start, which is when `STARTED_AT` is taken.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import REGISTRY, Counter, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from conductor_site.errors import error_json

log = logging.getLogger("conductor.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS_PATH = "/metrics"
STARTED_AT = time.time()

# No `*_created` companion series: the page reads like the contract's example.
disable_created_metrics()

API_REQUESTS = Counter(
    "conductor_api_requests",
    "Total API requests by method and status",
    ["method", "status"],
)


class ApiRequestsMiddleware:
    """Counts every request but the scrapes of `/metrics` themselves."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.rstrip("/") != METRICS_PATH:
            API_REQUESTS.labels(str(request.method).upper(), str(response.status_code)).inc()
        return response


class ConductorCollector(Collector):
    """The database-backed metrics, read at each scrape."""

    def describe(self) -> list[Metric]:
        # Declared so that registering does not run a scrape (and its queries) at import.
        return list(self._families(0, 0, 0, 0))

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "conductor_uptime_seconds", "Server uptime in seconds", value=uptime_seconds()
        )
        try:
            counts = database_counts(datetime.fromtimestamp(STARTED_AT, UTC))
        except DatabaseError:
            log.warning("metrics: the database did not answer", exc_info=True)
            return
        yield from self._families(*counts)

    def _families(self, active: int, completed: int, failed: int, appends: int) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "conductor_active_runs_total", "Currently active (running) agent runs", value=active
        )
        yield CounterMetricFamily(
            "conductor_completed_runs",
            "Total completed agent runs since startup",
            value=completed,
        )
        yield CounterMetricFamily(
            "conductor_failed_runs", "Total failed agent runs since startup", value=failed
        )
        yield CounterMetricFamily(
            "conductor_messagebus_appends",
            "Total message bus append operations",
            value=appends,
        )


def uptime_seconds() -> float:
    return round(time.time() - STARTED_AT, 3)


def database_counts(since: datetime) -> tuple[int, int, int, int]:
    """Running agent runs now; agent runs that succeeded, and that failed or crashed, since
    `since`; messages appended since `since`."""
    from messagebus.models import Message
    from runs.models import Run, RunStatus

    runs = Run.objects.filter(kind=Run.Kind.AGENT)
    ended = runs.filter(ended_at__gte=since)
    return (
        runs.filter(status=RunStatus.RUNNING).count(),
        ended.filter(status=RunStatus.SUCCESS).count(),
        ended.filter(status__in=(RunStatus.FAILED, RunStatus.CRASHED)).count(),
        Message.objects.filter(created_at__gte=since).count(),
    )


REGISTRY.register(ConductorCollector())


@csrf_exempt
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format 0.0.4, whatever the scraper's Accept header says."""
    if request.method not in ("GET", "HEAD"):
        response = error_json(405, f"method {request.method} not allowed on {METRICS_PATH}")
        response["Allow"] = "GET, HEAD"
        return response
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE)
