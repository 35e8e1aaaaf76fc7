"""The project-centric API under `/api/projects`: what the web UI and `run-agent server` call.

Destructive routes (deleting a run, a task or a project, and garbage collection) answer 403 to
a browser context (CONTRACT.md, AMB-9): see `from_browser`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor_site.errors import ApiError
from conductor_site.ids import identifier_field, is_identifier
from conductor_site.openapi import bool_parameter, errors, path_parameters
from conductor_site.params import query_bool, query_identifier, query_int
from projects import creation, openapi, selectors, services, storage
from projects.models import Project
from runs import services as run_services
from runs.files import RUN_FILES, UnknownFile, run_file_text, run_folder
from runs.models import ACTIVE_STATUSES, LogChunk, Run
from runs.selectors import rfc3339
from tasks.models import Task
from tasks.services import TaskConflict, task_done_remove, task_resume_loop

TASK_LIST_DEFAULT_LIMIT = 50
PAGE_MAX_LIMIT = 500
FLAT_SELECTED_MAX = 200
BROWSER_HEADERS = ("Sec-Fetch-Site", "Sec-Fetch-Mode", "Origin", "Referer")
TASK_FILES = ("TASK.md",)


# Lookups: ids are checked (400) before anything is looked up (404).


def checked_ids(**ids: str) -> None:
    for name, value in ids.items():
        if not is_identifier(value):
            raise ApiError(400, f"invalid {name} {value!r}")


def get_project(project_id: str) -> Project:
    checked_ids(project_id=project_id)
    project = Project.objects.filter(id=project_id).first()
    if project is None:
        raise ApiError(404, f"project {project_id!r} not found")
    return project


def get_task(project_id: str, task_id: str) -> Task:
    checked_ids(project_id=project_id, task_id=task_id)
    task = Task.objects.select_related("project").filter(project_id=project_id, task_id=task_id)
    found = task.first()
    if found is None:
        if not Project.objects.filter(id=project_id).exists():
            raise ApiError(404, f"project {project_id!r} not found")
        raise ApiError(404, f"task {task_id!r} not found in project {project_id!r}")
    return found


def get_task_run(project_id: str, task_id: str, run_id: str) -> Run:
    checked_ids(project_id=project_id, task_id=task_id, run_id=run_id)
    task = get_task(project_id, task_id)
    run = Run.objects.select_related("attempt__task").filter(id=run_id, attempt__task=task)
    found = run.first()
    if found is None:
        raise ApiError(404, f"run {run_id!r} not found in task {task_id!r}")
    return found


def from_browser(request: Request) -> bool:
    """A browser's fetch metadata, an `Origin` or `Referer`, the web UI's own marker header or
    the dashboard's session cookie. curl and API clients send none of them."""
    headers = request.headers
    return (
        any(name in headers for name in BROWSER_HEADERS)
        or headers.get("X-Conductor-Client", "").strip().lower() == "web-ui"
        or settings.SESSION_COOKIE_NAME in request.COOKIES
    )


def refuse_browser(request: Request, action: str) -> None:
    if from_browser(request):
        raise ApiError(
            403, f"{action} is disabled from the web UI and browsers: use the CLI or curl"
        )


# Projects.


PROJECT = path_parameters("project_id")
TASK = path_parameters("project_id", "task_id")
RUN = path_parameters("project_id", "task_id", "run_id")


class ProjectsApi(APIView):
    @extend_schema_serializer(component_name="ProjectCreate")
    class InputSerializer(serializers.Serializer):
        project_id = identifier_field()
        project_root = serializers.CharField()
        name = serializers.CharField(required=False, default="", max_length=200)
        default_branch = serializers.CharField(required=False, default="", max_length=255)
        setup_script = serializers.CharField(required=False, default="", trim_whitespace=False)
        cleanup_script = serializers.CharField(required=False, default="", trim_whitespace=False)
        dev_server_script = serializers.CharField(required=False, default="")
        copy_files = serializers.ListField(
            child=serializers.CharField(), required=False, default=list
        )
        env = serializers.DictField(child=serializers.CharField(), required=False, default=dict)

    @extend_schema(
        operation_id="projects_list", tags=["projects"], responses=openapi.ProjectListSerializer
    )
    def get(self, request: Request) -> Response:
        return Response({"projects": selectors.project_summaries()})

    @extend_schema(
        operation_id="project_create",
        tags=["projects"],
        request=InputSerializer,
        responses={201: openapi.ProjectSummarySerializer, **errors(400, 409)},
    )
    def post(self, request: Request) -> Response:
        """`project_root`: absolute (no `~` expansion), an existing directory outside the
        data dir; `default_branch`: a valid branch name (`creation.project_create`)."""
        if not isinstance(request.data, dict):
            raise ApiError(400, "the request body must be a JSON object")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            project = creation.project_create(**data.validated_data)
        except storage.PathRefused as exc:
            raise ApiError(409, f"the project's folder cannot be made: {exc}") from exc
        except OSError as exc:
            raise ApiError(500, f"could not create the project's folder: {exc}") from exc
        return Response(selectors.project_summary(project), status=201)


@contextmanager
def deleting() -> Iterator[None]:
    """Something still running, or a data folder reached through a symlink, is a 409; a
    folder that cannot be removed, a 500."""
    try:
        yield
    except services.Busy as exc:
        raise ApiError(409, str(exc), **exc.details) from exc
    except storage.PathRefused as exc:
        raise ApiError(409, f"the data folder was not removed: {exc}") from exc
    except OSError as exc:
        raise ApiError(500, f"could not remove the data folder: {exc}") from exc


class HomeDirsApi(APIView):
    @extend_schema(
        operation_id="project_home_dirs", tags=["projects"], responses=openapi.HomeDirsSerializer
    )
    def get(self, request: Request) -> Response:
        return Response({"dirs": selectors.home_dirs()})


class ProjectApi(APIView):
    @extend_schema(
        operation_id="project_get",
        tags=["projects"],
        parameters=PROJECT,
        responses={200: openapi.ProjectDetailSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, project_id: str) -> Response:
        return Response(selectors.project_detail(get_project(project_id)))

    @extend_schema(
        operation_id="project_delete",
        tags=["projects"],
        parameters=[*PROJECT, bool_parameter("force", "Stop what still runs first.")],
        responses={200: openapi.ProjectDeletedSerializer, **errors(400, 403, 404, 409)},
    )
    def delete(self, request: Request, project_id: str) -> Response:
        """Its tasks, runs, logs, buses and data folder; `?force=true` stops what runs first.
        The repository, worktrees and branches stay."""
        checked_ids(project_id=project_id)
        refuse_browser(request, "deleting a project")
        project = get_project(project_id)
        with deleting():
            deleted_tasks, freed = services.project_delete(
                project, force=query_bool(request, "force")
            )
        return Response(
            {"project_id": project_id, "deleted_tasks": deleted_tasks, "freed_bytes": freed}
        )


class ProjectStatsApi(APIView):
    @extend_schema(
        operation_id="project_stats",
        tags=["projects"],
        parameters=PROJECT,
        responses={200: openapi.ProjectStatsSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, project_id: str) -> Response:
        return Response(selectors.project_stats(get_project(project_id)))


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


# Tasks.


class ProjectTasksApi(APIView):
    @extend_schema(
        operation_id="project_tasks_list",
        tags=["projects"],
        parameters=[*PROJECT, openapi.TASK_STATUS_PARAMETER, *openapi.PAGE_PARAMETERS],
        responses={200: openapi.TASK_PAGE, **errors(400, 404)},
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = get_project(project_id)
        status = request.query_params.get("status", "").strip().lower() or None
        if status is not None and status not in selectors.TASK_STATUS_FILTERS:
            choices = ", ".join(selectors.TASK_STATUS_FILTERS)
            raise ApiError(400, f"status must be one of {choices}, not {status!r}")
        limit = query_int(request, "limit", TASK_LIST_DEFAULT_LIMIT, low=1, high=PAGE_MAX_LIMIT)
        offset = query_int(request, "offset", 0, low=0, high=None)
        items, total = selectors.task_page(project, status=status, limit=limit, offset=offset)
        return Response(_page(items, total, limit, offset))


def _page(items: list[dict[str, Any]], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "has_more": offset + len(items) < total,
    }


class ProjectTaskApi(APIView):
    @extend_schema(
        operation_id="project_task_get",
        tags=["projects"],
        parameters=TASK,
        responses={200: openapi.TaskDetailSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, project_id: str, task_id: str) -> Response:
        return Response(selectors.task_detail(get_task(project_id, task_id)))

    @extend_schema(
        operation_id="project_task_delete",
        tags=["projects"],
        parameters=TASK,
        responses={204: None, **errors(400, 403, 404, 409)},
    )
    def delete(self, request: Request, project_id: str, task_id: str) -> Response:
        """Its rows (attempts, runs, logs, bus) and its folder. Worktrees and branches stay:
        they are cleaned separately, as they may hold unmerged work."""
        checked_ids(project_id=project_id, task_id=task_id)
        refuse_browser(request, "deleting a task")
        task = get_task(project_id, task_id)
        with deleting():
            services.task_delete(task)
        return Response(status=204)


class TaskResumeApi(APIView):
    """Remove the task's DONE marker and start its Ralph loop again."""

    @extend_schema(
        operation_id="project_task_resume",
        tags=["projects"],
        parameters=TASK,
        request=None,
        responses={200: openapi.TaskResumedSerializer, **errors(400, 404)},
    )
    def post(self, request: Request, project_id: str, task_id: str) -> Response:
        task = get_task(project_id, task_id)
        if not task_done_remove(task):
            raise ApiError(400, f"task {task_id!r} has no DONE file: nothing to resume")
        with suppress(TaskConflict):  # it runs already, or never ran: nothing to restart
            task_resume_loop(task)
        return Response({"project_id": project_id, "task_id": task_id, "resumed": True})


class TaskRunsApi(APIView):
    @extend_schema(
        operation_id="project_task_runs_list",
        tags=["projects"],
        parameters=[*TASK, *openapi.PAGE_PARAMETERS],
        responses={200: openapi.RUN_PAGE, **errors(400, 404)},
    )
    def get(self, request: Request, project_id: str, task_id: str) -> Response:
        task = get_task(project_id, task_id)
        limit = query_int(request, "limit", TASK_LIST_DEFAULT_LIMIT, low=1, high=PAGE_MAX_LIMIT)
        offset = query_int(request, "offset", 0, low=0, high=None)
        items, total = selectors.task_runs_page(task, limit=limit, offset=offset)
        return Response(_page(items, total, limit, offset))


# Runs.


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
        run_services.run_stop(run)
        return Response({"status": "stopping", "run_id": run.id}, status=202)


# Files: raw text for curl and scripts, JSON for the web UI.


class FileApi(APIView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        """`Accept: text/plain` must not be refused (406): errors are JSON regardless."""
        return super().perform_content_negotiation(request, force=True)


def wants_json(request: Request) -> bool:
    """The web UI (its marker header) or a client preferring JSON to text; else text/plain."""
    if request.headers.get("X-Conductor-Client", "").strip().lower() == "web-ui":
        return True
    return request.get_preferred_type(["text/plain", "application/json"]) == "application/json"


def file_response(
    request: Request, name: str, text: str, modified: datetime | None
) -> HttpResponse | Response:
    tail = query_int(request, "tail", 0, low=0, high=None)
    content = last_lines(text, tail) if tail else text
    if wants_json(request):
        return Response(
            {
                "name": name,
                "content": content,
                "modified": rfc3339(modified),
                "size_bytes": len(text.encode()),
            }
        )
    return HttpResponse(content, content_type="text/plain; charset=utf-8")


def last_lines(text: str, count: int) -> str:
    """The last `count` lines of `text` (a final newline does not start another line)."""
    start = len(text) - 1 if text.endswith("\n") else len(text)
    for _ in range(count):
        start = text.rfind("\n", 0, start)
        if start < 0:
            return text
    return text[start + 1 :]


def _mtime(path: Path) -> datetime | None:
    found = storage.file_stat(path)
    return None if found is None else datetime.fromtimestamp(found.st_mtime, tz=UTC)


class TaskFileApi(FileApi):
    @extend_schema(
        operation_id="project_task_file",
        tags=["projects"],
        parameters=[*TASK, *openapi.file_parameters(TASK_FILES)],
        responses={**openapi.FILE_RESPONSES, **errors(400, 404)},
    )
    def get(self, request: Request, project_id: str, task_id: str) -> HttpResponse | Response:
        get_task(project_id, task_id)
        name = request.query_params.get("name", "")
        if name not in TASK_FILES:
            raise ApiError(400, f"unknown task file {name!r}: use {', '.join(TASK_FILES)}")
        path = storage.task_dir(project_id, task_id) / name
        text = storage.file_text(path)
        if text is None:
            raise ApiError(404, f"task {task_id!r} has no {name}")
        return file_response(request, name, text, _mtime(path))


class RunFileApi(FileApi):
    @extend_schema(
        operation_id="project_run_file",
        tags=["projects"],
        parameters=[*RUN, *openapi.file_parameters(RUN_FILES)],
        responses={**openapi.FILE_RESPONSES, **errors(400, 404)},
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
        return file_response(request, name, text, _run_file_modified(run, name))


def _run_file_modified(run: Run, name: str) -> datetime | None:
    if name == "output.md":
        return _mtime(run_folder(run) / name)
    if name == "prompt":
        return run.created_at
    chunks = LogChunk.objects.filter(run=run, stream=name).aggregate(last=Max("created_at"))
    return chunks["last"] or run.ended_at or run.started_at or run.created_at
