from __future__ import annotations

import time
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor_site.api import conductor_version
from conductor_site.errors import ApiError
from conductor_site.ids import is_identifier
from conductor_site.openapi import errors, path_parameters
from conductor_site.params import query_identifier, query_int
from projects.models import AgentProfile
from runs import openapi, services
from runs.agents import AGENT_TYPES
from runs.entries.replay import entries_of
from runs.models import Run, RunStatus
from runs.selectors import rfc3339, run_output, run_to_api

# `uptime_seconds` of /api/v1/status counts from here: the first import of this module, which
# happens when the URLconf loads (at start-up under `conductor serve`, else the first request).
STARTED = time.monotonic()

RUN_LIST_DEFAULT_LIMIT = 100
RUN_LIST_MAX_LIMIT = 1000
ENTRY_DEFAULT_LIMIT = 200
ENTRY_MAX_LIMIT = 1000


def get_run(run_id: str) -> Run:
    if not is_identifier(run_id):
        raise ApiError(400, f"invalid run id {run_id!r}")
    run = Run.objects.select_related("attempt__task").filter(id=run_id).first()
    if run is None:
        raise ApiError(404, f"run {run_id!r} not found")
    return run


class RunListApi(APIView):
    """`{"runs": [...]}`, newest first, agent runs unless `?kind=` says otherwise; paged by
    `limit`/`offset`, with `X-Total-Count`, `X-Limit` and `X-Offset` response headers."""

    KINDS = frozenset(Run.Kind.values) | {"all"}

    @extend_schema(
        operation_id="runs_list",
        tags=["runs"],
        parameters=[*openapi.RUN_LIST_PARAMETERS, *openapi.PAGE_HEADERS],
        responses={200: openapi.RunListSerializer, **errors(400)},
    )
    def get(self, request: Request) -> Response:
        runs = self._filtered(request)
        limit = query_int(request, "limit", RUN_LIST_DEFAULT_LIMIT, low=1, high=RUN_LIST_MAX_LIMIT)
        offset = query_int(request, "offset", 0, low=0, high=None)
        page = runs.select_related("attempt__task").defer("prompt")[offset : offset + limit]
        response = Response({"runs": [run_to_api(run) for run in page]})
        response["X-Total-Count"] = str(runs.count())
        response["X-Limit"] = str(limit)
        response["X-Offset"] = str(offset)
        return response

    def _filtered(self, request: Request) -> Any:
        runs = Run.objects.order_by("-created_at", "-id")
        kind = request.query_params.get("kind", Run.Kind.AGENT)
        if kind not in self.KINDS:
            raise ApiError(400, f"kind must be one of {', '.join(sorted(self.KINDS))}")
        if kind != "all":
            runs = runs.filter(kind=kind)
        status = request.query_params.get("status")
        if status is not None:
            if status not in RunStatus.values:
                raise ApiError(400, f"status must be one of {', '.join(RunStatus.values)}")
            # `created` is the document's word for every run not started (`document_status`).
            waiting = [RunStatus.CREATED, RunStatus.QUEUED] if status == RunStatus.CREATED else []
            runs = runs.filter(status__in=waiting or [status])
        if project_id := query_identifier(request, "project_id"):
            runs = runs.filter(attempt__task__project_id=project_id)
        if task_id := query_identifier(request, "task_id"):
            runs = runs.filter(attempt__task__task_id=task_id)
        return runs


class RunDetailApi(APIView):
    @extend_schema(
        operation_id="run_get",
        tags=["runs"],
        parameters=path_parameters("run_id"),
        responses={200: openapi.RunDetailSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = get_run(run_id)
        return Response({**run_to_api(run), "output": run_output(run)})


class RunInfoApi(APIView):
    @extend_schema(
        operation_id="run_info",
        tags=["runs"],
        parameters=path_parameters("run_id"),
        responses={200: openapi.RunSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, run_id: str) -> Response:
        return Response(run_to_api(get_run(run_id)))


class RunEntriesApi(APIView):
    """The run's output as a conversation (docs/api/entries.md): the entries after index
    `after`, and earlier ones that changed since (a tool call that finished); rebuilt from the
    stored log on each request, so a finished run and a running one read alike."""

    @extend_schema(
        operation_id="run_entries",
        tags=["runs"],
        parameters=[*path_parameters("run_id"), *openapi.ENTRY_PARAMETERS],
        responses={200: openapi.EntryPageSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = get_run(run_id)
        after = query_int(request, "after", 0, low=0, high=None)
        limit = query_int(request, "limit", ENTRY_DEFAULT_LIMIT, low=1, high=ENTRY_MAX_LIMIT)
        page = entries_of(run, after=after, limit=limit)
        return Response(
            {
                "run_id": run.id,
                "format": page.normalizer.detected,
                "entries": [{"index": index, "entry": entry} for index, entry in page.entries],
                "next_after": page.next_after,
                "has_more": page.has_more,
            }
        )


class RunStopApi(APIView):
    """200 `{"status": "stopped"}` once the stop reached the process (or it never started)."""

    @extend_schema(
        operation_id="run_stop",
        tags=["runs"],
        parameters=path_parameters("run_id"),
        request=None,
        responses={200: openapi.RunStoppedSerializer, **errors(400, 404, 409)},
    )
    def post(self, request: Request, run_id: str) -> Response:
        run = get_run(run_id)
        if run.status not in (
            RunStatus.CREATED,
            RunStatus.QUEUED,
            RunStatus.RUNNING,
            RunStatus.STOPPED,
        ):
            raise ApiError(
                409, f"run {run_id!r} has already ended ({run.status})", status=run.status
            )
        services.run_stop(run)
        services.runs_await_end([run.id])
        return Response({"status": "stopped"})


class ServerStatusApi(APIView):
    """What `run-agent server status` shows: running agent runs, uptime, agents, version."""

    @extend_schema(
        operation_id="server_status",
        tags=["system"],
        responses=openapi.ServerStatusSerializer,
    )
    def get(self, request: Request) -> Response:
        running = (
            Run.objects.filter(status=RunStatus.RUNNING, kind=Run.Kind.AGENT)
            .select_related("attempt__task")
            .order_by("started_at", "id")
        )
        tasks = [
            {
                "project_id": run.attempt.task.project_id,
                "task_id": run.attempt.task.task_id,
                "run_id": run.id,
                "agent": run.attempt.agent,
                "started": rfc3339(run.started_at or run.created_at),
            }
            for run in running
        ]
        profiles = AgentProfile.objects.values_list("name", flat=True)
        return Response(
            {
                "active_runs_count": len(tasks),
                "uptime_seconds": int(time.monotonic() - STARTED),
                "configured_agents": sorted({*AGENT_TYPES, *profiles}),
                "version": conductor_version(),
                "running_tasks": tasks,
            }
        )
