"""`/api/v1/attempts`: an agent's tries at a task, their runs, branch status and diff.

Reads of a worktree (diff, branch status) go through `runs.owner.on_owner`, so they run on
the worker that owns it; when it cannot answer, a diff falls back on the snapshot stored when
the attempt's last run ended, and says so (`source: "snapshot"`, `stale_reason`).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import F, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from conductor_site.errors import ApiError
from conductor_site.http import paged
from conductor_site.ids import identifier_field, is_identifier
from conductor_site.openapi import bool_parameter, errors, path_parameters
from conductor_site.params import query_bool, query_identifier, query_int
from projects import git
from projects.models import Project
from runs import diffs, openapi, services
from runs.agents import UnknownAgent
from runs.diffs import Diff
from runs.models import Attempt, Run
from runs.owner import OwnerRefused, OwnerUnavailable, on_owner
from runs.selectors import attempt_run_to_api, attempt_to_api
from tasks import services as task_services
from tasks.api import started_to_api
from tasks.models import Task
from tasks.openapi import TaskSerializer, TaskStartedSerializer
from tasks.project_api import get_task
from tasks.selectors import tasks_to_api

ATTEMPT_LIST_DEFAULT_LIMIT = 50
ATTEMPT_LIST_MAX_LIMIT = 500
ATTEMPT = path_parameters("attempt_id")


class AttemptCreateSerializer(serializers.Serializer):
    project_id = identifier_field()
    task_id = identifier_field()
    agent = serializers.CharField(
        max_length=128, required=False, help_text="An agent type or profile; the task's if absent."
    )
    prompt = serializers.CharField(
        trim_whitespace=False, required=False, help_text="The task's prompt if absent."
    )
    base_branch = serializers.CharField(
        max_length=255,
        required=False,
        help_text="The branch to start from (and later merge into); the project's default.",
    )


class SubtaskCreateSerializer(serializers.Serializer):
    task_id = identifier_field()
    prompt = serializers.CharField(trim_whitespace=False)
    agent_type = serializers.CharField(
        max_length=128, required=False, help_text="The parent task's if absent."
    )


class AttemptChildrenSerializer(serializers.Serializer):
    parent_task = TaskSerializer(help_text="The attempt's task, as GET /api/v1/tasks/{id}.")
    current_attempt = openapi.AttemptSerializer()
    children = TaskSerializer(many=True, help_text="The subtasks made from it, oldest first.")


class AttemptViewSet(viewsets.ViewSet):
    lookup_field = "attempt_id"
    lookup_value_regex = "[^/]+"  # checked in `_get`: a bad id is a 400, not a 404

    @extend_schema(
        operation_id="attempt_create",
        tags=["attempts"],
        request=AttemptCreateSerializer,
        responses={201: openapi.AttemptStartedSerializer, **errors(400, 404, 409, 503)},
    )
    def create(self, request: Request) -> Response:
        """A new attempt on an existing task, in a worktree of its own on a new branch made
        from `base_branch`; started, or queued like any task (`queue_position`)."""
        if settings.CONDUCTOR["DISABLE_TASK_START"]:
            raise ApiError(503, "task execution is disabled on this server (--disable-task-start)")
        if not isinstance(request.data, dict):
            raise ApiError(400, "the request body must be a JSON object")
        data = AttemptCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        task = get_task(fields["project_id"], fields["task_id"])
        if task.is_bus_only:  # only messages made it: there is nothing to attempt
            raise ApiError(404, f"task {task.task_id!r} not found in project {task.project_id!r}")
        base = fields.get("base_branch", "")
        if base:
            _check_base(task.project, base)
        started = _start(task, fields.get("agent") or task.agent_type, fields, base)
        attempt = _get(started.run.attempt_id)
        body = {**attempt_to_api(attempt), "run_id": started.run.id}
        return Response({**body, "queue_position": started.queue_position}, status=201)

    @extend_schema(
        operation_id="attempts_list",
        tags=["attempts"],
        parameters=openapi.ATTEMPT_LIST_PARAMETERS,
        responses={200: openapi.ATTEMPT_PAGE, **errors(400)},
    )
    def list(self, request: Request) -> Response:
        """A page of attempts, newest first, filtered by project and task."""
        attempts = Attempt.objects.select_related("task__project").order_by("-created_at", "-id")
        if project_id := query_identifier(request, "project_id"):
            attempts = attempts.filter(task__project_id=project_id)
        if task_id := query_identifier(request, "task_id"):
            attempts = attempts.filter(task__task_id=task_id)
        limit = query_int(
            request, "limit", ATTEMPT_LIST_DEFAULT_LIMIT, low=1, high=ATTEMPT_LIST_MAX_LIMIT
        )
        offset = query_int(request, "offset", 0, low=0, high=None)
        page = [attempt_to_api(a) for a in attempts[offset : offset + limit]]
        return Response(paged(page, attempts.count(), limit, offset))

    @extend_schema(
        operation_id="attempt_get",
        tags=["attempts"],
        parameters=ATTEMPT,
        responses={200: openapi.AttemptDetailSerializer, **errors(400, 404)},
    )
    def retrieve(self, request: Request, attempt_id: str) -> Response:
        """The attempt (branch, base, target, worktree, worker, status) with all its runs."""
        attempt = _get(attempt_id)
        return Response({**attempt_to_api(attempt), "runs": _runs(attempt)})

    @extend_schema(
        operation_id="attempt_runs",
        tags=["attempts"],
        parameters=ATTEMPT,
        responses={200: openapi.AttemptRunListSerializer, **errors(400, 404)},
    )
    @action(detail=True, methods=["get"])
    def runs(self, request: Request, attempt_id: str) -> Response:
        """The attempt's execution processes (setup, agent, cleanup, dev server runs), in the
        order they ran; each is stopped with `POST /api/v1/runs/{run_id}/stop`."""
        return Response({"runs": _runs(_get(attempt_id))})

    @extend_schema(
        operation_id="attempt_branch_status",
        tags=["attempts"],
        parameters=ATTEMPT,
        responses={200: openapi.BranchStatusSerializer, **errors(400, 404, 409, 503)},
    )
    @action(detail=True, methods=["get"], url_path="branch-status")
    def branch_status(self, request: Request, attempt_id: str) -> Response:
        """Commits ahead of and behind the target, uncommitted and untracked files, a rebase
        or merge stopped on conflicts, and whether the target moved since the attempt began;
        read by the worker that owns the worktree (503 when it does not answer)."""
        return Response(on_owner(_get(attempt_id), "branch_status"))

    @extend_schema(
        operation_id="attempt_diff",
        tags=["attempts"],
        parameters=[*ATTEMPT, bool_parameter("stats_only", "Leave the file contents out.")],
        responses={200: openapi.DiffSerializer, **errors(400, 404, 409, 503)},
    )
    @action(detail=True, methods=["get"])
    def diff(self, request: Request, attempt_id: str) -> Response:
        """The diff against the merge-base with the target, untracked files included, from
        the worktree as it is now; the snapshot stored when the last run ended when the
        owner cannot read it (its worker is down, the worktree was removed)."""
        stats_only = query_bool(request, "stats_only")
        return Response(_diff(_get(attempt_id), stats_only))

    @extend_schema(
        operation_id="attempt_stop",
        tags=["attempts"],
        parameters=ATTEMPT,
        request=None,
        responses={200: openapi.AttemptStoppedSerializer, **errors(400, 404)},
    )
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, attempt_id: str) -> Response:
        """Stop everything the attempt runs (or its start, if it has not started); answers
        once the runs ended, bounded as `POST /api/v1/runs/{run_id}/stop`."""
        attempt = _get(attempt_id)
        stopped = services.attempt_stop(attempt)
        services.runs_await_end(stopped)
        attempt.refresh_from_db(fields=["status"])
        return Response(
            {"attempt_id": attempt.id, "status": attempt.status, "stopped_run_ids": stopped}
        )

    @extend_schema(
        operation_id="attempt_children",
        methods=["GET"],
        tags=["attempts"],
        parameters=ATTEMPT,
        responses={200: AttemptChildrenSerializer, **errors(400, 404)},
    )
    @extend_schema(
        operation_id="attempt_subtask_create",
        methods=["POST"],
        tags=["attempts"],
        parameters=ATTEMPT,
        request=SubtaskCreateSerializer,
        responses={201: TaskStartedSerializer, **errors(400, 404, 409, 503)},
    )
    @action(detail=True, methods=["get", "post"])
    def children(self, request: Request, attempt_id: str) -> Response:
        """GET: the attempt's task and the subtasks made from the attempt. POST: a new
        subtask, in the same project, whose attempts start from this attempt's branch."""
        attempt = _get(attempt_id)
        if request.method == "POST":
            return Response(started_to_api(_subtask(attempt, request)), status=201)
        children = Task.objects.filter(parent_attempt=attempt).order_by("created_at", "id")
        return Response(
            {
                "parent_task": tasks_to_api(Task.objects.filter(pk=attempt.task_id))[0],
                "current_attempt": attempt_to_api(attempt),
                "children": tasks_to_api(children),
            }
        )


def _subtask(attempt: Attempt, request: Request) -> task_services.Started:
    if settings.CONDUCTOR["DISABLE_TASK_START"]:
        raise ApiError(503, "task execution is disabled on this server (--disable-task-start)")
    if not isinstance(request.data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    data = SubtaskCreateSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    fields = data.validated_data
    agent = fields.get("agent_type") or attempt.task.agent_type
    try:
        return task_services.subtask_submit(
            attempt, task_id=fields["task_id"], agent_type=agent, prompt=fields["prompt"]
        )
    except (UnknownAgent, ValueError) as exc:
        raise ApiError(400, str(exc)) from exc
    except task_services.TaskConflict as exc:
        raise ApiError(409, str(exc)) from exc


def _check_base(project: Project, base: str) -> None:
    if not project.has_repository:
        raise ApiError(400, f"project {project.id!r} has no git repository: base_branch is moot")
    if not git.branch_name_valid(base) or not git.branch_exists(project.project_root, base):
        raise ApiError(400, f"base_branch {base!r} is not a branch of {project.project_root}")


def _start(task: Task, agent: str, fields: dict[str, Any], base: str) -> task_services.Started:
    prompt = fields.get("prompt") or task.prompt
    try:
        return task_services.attempt_submit(task, agent=agent, prompt=prompt, base_branch=base)
    except (UnknownAgent, ValueError) as exc:
        raise ApiError(400, str(exc)) from exc
    except task_services.TaskConflict as exc:
        raise ApiError(409, str(exc)) from exc


def _get(attempt_id: str) -> Attempt:
    if not is_identifier(attempt_id):
        raise ApiError(400, f"invalid attempt id {attempt_id!r}")
    attempt = Attempt.objects.select_related("task__project").filter(id=attempt_id).first()
    if attempt is None:
        raise ApiError(404, f"attempt {attempt_id!r} not found")
    return attempt


def _runs(attempt: Attempt) -> list[dict[str, Any]]:
    """In the order they ran (the agent run is made first, but runs after the setup run);
    those not started yet last."""
    order = (F("started_at").asc(nulls_last=True), "created_at", "id")
    runs: QuerySet[Run] = attempt.runs.defer("prompt").order_by(*order)
    return [attempt_run_to_api(run) for run in runs]


def _diff(attempt: Attempt, stats_only: bool) -> Diff:
    try:
        diff: Diff = on_owner(attempt, "diff", stats_only=stats_only)
    except (OwnerUnavailable, OwnerRefused) as exc:
        stored = diffs.snapshot_diff(attempt, stats_only=stats_only)
        if stored is None:
            raise
        return {**stored, "stale_reason": exc.message}
    return diff
