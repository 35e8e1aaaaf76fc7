"""A project's tasks under `/api/projects/<p>/tasks`: the task list, a task's detail, deletion,
its files, resuming its Ralph loop, and its runs (newest first).

The `/api/v1/tasks` routes of the Conductor Loop API are in `tasks.api`.
"""

from __future__ import annotations

from contextlib import suppress

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor_site.errors import ApiError
from conductor_site.http import (
    PAGE_DEFAULT_LIMIT,
    PAGE_MAX_LIMIT,
    FileApi,
    checked_ids,
    file_response,
    paged,
    refuse_browser,
)
from conductor_site.openapi import (
    FILE_RESPONSES,
    PAGE_PARAMETERS,
    errors,
    file_parameters,
    path_parameters,
)
from conductor_site.params import query_int
from projects import storage
from projects.api import PROJECT, deleting, known_project_id
from projects.models import Project
from runs.openapi import RUN_PAGE
from runs.selectors import rfc3339
from tasks import list_sql, openapi, selectors, services
from tasks.models import Task
from tasks.services import TaskConflict, task_done_remove, task_resume_loop

TASK = path_parameters("project_id", "task_id")
TASK_FILES = ("TASK.md",)


def get_task(project_id: str, task_id: str) -> Task:
    """The project's task; ids are checked (400) before anything is looked up (404)."""
    checked_ids(project_id=project_id, task_id=task_id)
    task = Task.objects.select_related("project").filter(project_id=project_id, task_id=task_id)
    found = task.first()
    if found is None:
        if not Project.objects.filter(id=project_id).exists():
            raise ApiError(404, f"project {project_id!r} not found")
        raise ApiError(404, f"task {task_id!r} not found in project {project_id!r}")
    return found


class ProjectTasksApi(APIView):
    @extend_schema(
        operation_id="project_tasks_list",
        tags=["projects"],
        parameters=[*PROJECT, openapi.TASK_STATUS_PARAMETER, *PAGE_PARAMETERS],
        responses={200: openapi.TASK_PAGE, **errors(400, 404)},
    )
    def get(self, request: Request, project_id: str) -> Response:
        project_id = known_project_id(project_id)
        status = request.query_params.get("status", "").strip().lower() or None
        if status is not None and status not in list_sql.TASK_STATUS_FILTERS:
            choices = ", ".join(list_sql.TASK_STATUS_FILTERS)
            raise ApiError(400, f"status must be one of {choices}, not {status!r}")
        limit = query_int(request, "limit", PAGE_DEFAULT_LIMIT, low=1, high=PAGE_MAX_LIMIT)
        offset = query_int(request, "offset", 0, low=0, high=None)
        items, total = list_sql.task_page(project_id, status=status, limit=limit, offset=offset)
        return Response(paged(items, total, limit, offset))


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
        parameters=[*TASK, *PAGE_PARAMETERS],
        responses={200: RUN_PAGE, **errors(400, 404)},
    )
    def get(self, request: Request, project_id: str, task_id: str) -> Response:
        task = get_task(project_id, task_id)
        limit = query_int(request, "limit", PAGE_DEFAULT_LIMIT, low=1, high=PAGE_MAX_LIMIT)
        offset = query_int(request, "offset", 0, low=0, high=None)
        items, total = selectors.task_runs_page(task, limit=limit, offset=offset)
        return Response(paged(items, total, limit, offset))


class TaskFileApi(FileApi):
    @extend_schema(
        operation_id="project_task_file",
        tags=["projects"],
        parameters=[*TASK, *file_parameters(TASK_FILES)],
        responses={**FILE_RESPONSES, **errors(400, 404)},
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
        return file_response(request, name, text, rfc3339(storage.file_mtime(path)))
