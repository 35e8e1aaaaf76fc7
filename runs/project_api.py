"""A project's runs under `/api/projects/<p>/...`: the flat run list of the tree, garbage
collection, and one run of a task (detail, deletion, stop, files).

The `/api/v1/runs` routes of the Conductor Loop API are in `runs.api`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.db.models import Max
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor_site.errors import ApiError
from conductor_site.http import FileApi, checked_ids, file_response, refuse_browser
from conductor_site.openapi import FILE_RESPONSES, errors, file_parameters, path_parameters
from conductor_site.params import query_bool, query_identifier, query_int
from projects import storage
from projects.api import PROJECT, deleting, get_project
from projects.models import Project
from runs import openapi, selectors, services
from runs.files import RUN_FILES, UnknownFile, run_file_text, run_folder
from runs.models import ACTIVE_STATUSES, LogChunk, Run
from runs.selectors import rfc3339

FLAT_SELECTED_MAX = 200
RUN = path_parameters("project_id", "task_id", "run_id")


def get_task_run(project_id: str, task_id: str, run_id: str) -> Run:
    """The run of the project's task; ids are checked (400) before anything is looked up, and
    a 404 names what is missing: the project, the task or the run."""
    checked_ids(project_id=project_id, task_id=task_id, run_id=run_id)
    run = Run.objects.select_related("attempt__task").filter(
        id=run_id, attempt__task__project_id=project_id, attempt__task__task_id=task_id
    )
    found = run.first()
    if found is None:
        raise ApiError(404, _missing(project_id, task_id, run_id))
    return found


def _missing(project_id: str, task_id: str, run_id: str) -> str:
    project = Project.objects.filter(id=project_id)
    if not project.exists():
        return f"project {project_id!r} not found"
    if not project.filter(tasks__task_id=task_id).exists():
        return f"task {task_id!r} not found in project {project_id!r}"
    return f"run {run_id!r} not found in task {task_id!r}"


class ProjectGcApi(APIView):
    """Delete runs that ended more than `older_than` ago (default 168h): rows, logs, folders."""

    @extend_schema(
        operation_id="project_gc",
        tags=["projects"],
        parameters=[*PROJECT, *openapi.GC_PARAMETERS],
        request=None,
        responses={200: openapi.GcSerializer, **errors(400, 403, 404)},
    )
    def post(self, request: Request, project_id: str) -> Response:
        checked_ids(project_id=project_id)
        refuse_browser(request, "garbage collection")
        project = get_project(project_id)
        older_than = parse_duration(request.query_params.get("older_than") or "168h")
        dry_run = query_bool(request, "dry_run")
        runs = selectors.gc_candidates(
            project,
            ended_before=timezone.now() - older_than,
            keep_failed=query_bool(request, "keep_failed"),
        )
        freed = sum(selectors.run_bytes(run) for run in runs)
        if not dry_run:
            services.runs_delete(runs)
        return Response(
            {
                "project_id": project.id,
                "deleted_runs": len(runs),
                "freed_bytes": freed,
                "dry_run": dry_run,
            }
        )


DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")


DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
}


# `timezone.now() - older_than` must stay a date (and a huge float no timedelta): a bound far
# past any run's age.
DURATION_MAX_HOURS = 876_000  # 100 years


def parse_duration(text: str) -> timedelta:
    """A Go duration (`168h`, `1h30m`, `45s`, `0`), plus `d` for days."""
    if text == "0":
        return timedelta(0)
    seconds, position = 0.0, 0
    for part in DURATION_PART.finditer(text):
        if part.start() != position:
            break
        seconds += float(part[1]) * DURATION_UNITS[part[2]]
        position = part.end()
    if position == 0 or position != len(text):
        raise ApiError(400, f"older_than must be a duration such as 168h or 30m, not {text!r}")
    if not seconds <= DURATION_MAX_HOURS * 3600:
        raise ApiError(
            400, f"older_than must be between 0 and {DURATION_MAX_HOURS}h (100 years), not {text!r}"
        )
    return timedelta(seconds=seconds)


class ProjectRunsFlatApi(APIView):
    """The tree's runs: polled every second or so by the UI, so a fixed, small query count."""

    @extend_schema(
        operation_id="project_runs_flat",
        tags=["projects"],
        parameters=[*PROJECT, *openapi.FLAT_PARAMETERS],
        responses={200: openapi.FlatRunsSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = get_project(project_id)
        selected = query_identifier(request, "selected_task_id")
        runs = selectors.flat_runs(
            project,
            active_only=query_bool(request, "active_only"),
            selected_task_id=selected,
            selected_limit=query_int(
                request,
                "selected_task_limit",
                FLAT_SELECTED_MAX,
                low=0,
                high=FLAT_SELECTED_MAX,
            ),
        )
        return Response({"runs": runs})


class ProjectRunApi(APIView):
    @extend_schema(
        operation_id="project_run_get",
        tags=["projects"],
        parameters=RUN,
        responses={200: openapi.ProjectRunSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, project_id: str, task_id: str, run_id: str) -> Response:
        return Response(selectors.run_detail(get_task_run(project_id, task_id, run_id)))

    @extend_schema(
        operation_id="project_run_delete",
        tags=["projects"],
        parameters=RUN,
        responses={204: None, **errors(400, 403, 404, 409)},
    )
    def delete(self, request: Request, project_id: str, task_id: str, run_id: str) -> Response:
        checked_ids(project_id=project_id, task_id=task_id, run_id=run_id)
        refuse_browser(request, "deleting a run")
        run = get_task_run(project_id, task_id, run_id)
        with deleting():
            services.run_delete(run)
        return Response(status=204)


class ProjectRunStopApi(APIView):
    """202 once the stop is requested: the worker owning the run signals its process group."""

    @extend_schema(
        operation_id="project_run_stop",
        tags=["projects"],
        parameters=RUN,
        request=None,
        responses={202: openapi.RunStoppingSerializer, **errors(400, 404, 409)},
    )
    def post(self, request: Request, project_id: str, task_id: str, run_id: str) -> Response:
        run = get_task_run(project_id, task_id, run_id)
        if run.status not in ACTIVE_STATUSES:
            raise ApiError(409, f"run {run_id!r} is not running ({run.status})", status=run.status)
        services.run_stop(run)
        return Response({"status": "stopping", "run_id": run.id}, status=202)


class RunFileApi(FileApi):
    @extend_schema(
        operation_id="project_run_file",
        tags=["projects"],
        parameters=[*RUN, *file_parameters(RUN_FILES)],
        responses={**FILE_RESPONSES, **errors(400, 404)},
    )
    def get(
        self, request: Request, project_id: str, task_id: str, run_id: str
    ) -> HttpResponse | Response:
        run = get_task_run(project_id, task_id, run_id)
        name = request.query_params.get("name", "")
        try:
            text = run_file_text(run, name)
        except UnknownFile:
            raise ApiError(400, f"unknown run file {name!r}: use {', '.join(RUN_FILES)}") from None
        if text is None:
            raise ApiError(404, f"run {run_id!r} has no {name} (yet)")
        return file_response(request, name, text, rfc3339(_run_file_modified(run, name)))


def _run_file_modified(run: Run, name: str) -> datetime | None:
    if name == "output.md":
        return storage.file_mtime(run_folder(run) / name)
    if name == "prompt":
        return run.created_at
    chunks = LogChunk.objects.filter(run=run, stream=name).aggregate(last=Max("created_at"))
    return chunks["last"] or run.ended_at or run.started_at or run.created_at
