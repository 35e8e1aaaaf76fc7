from __future__ import annotations

import os
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor_site.errors import ApiError
from conductor_site.http import validated_body
from conductor_site.ids import identifier_field, is_identifier
from conductor_site.openapi import errors, id_parameter, path_parameters
from conductor_site.renderers import json_list_response
from runs.agents import UnknownAgent
from tasks import drain, openapi, services, threads
from tasks.list_sql import task_batches, tasks_to_api
from tasks.loop import loop_checked
from tasks.models import Task

# The planner looks each dependency up on every pass, holding the admission gate: 20,000 of
# them made each pass take 8 s, for every task. No real task waits on more than a few.
DEPENDS_ON_MAX = 100


class ThreadParentSerializer(serializers.Serializer):
    project_id = identifier_field()
    task_id = identifier_field()
    run_id = identifier_field()
    message_id = serializers.CharField(max_length=80)


class TaskCreateApi(APIView):
    @extend_schema_serializer(component_name="TaskCreate")
    class InputSerializer(serializers.Serializer):
        project_id = identifier_field()
        task_id = identifier_field()
        agent_type = serializers.CharField(max_length=128)
        prompt = serializers.CharField(trim_whitespace=False)
        attach_mode = serializers.ChoiceField(["create", "attach", "resume"], default="create")
        config = serializers.DictField(required=False, default=dict)
        depends_on = serializers.ListField(
            child=identifier_field(), required=False, default=list, max_length=DEPENDS_ON_MAX
        )
        project_root = serializers.CharField(required=False, allow_blank=True, default="")
        thread_parent = ThreadParentSerializer(required=False)
        thread_message_type = serializers.ChoiceField(["USER_REQUEST"], required=False)

        def validate_config(self, value: dict[str, Any]) -> dict[str, Any]:
            return loop_checked(value)

        def validate_project_root(self, value: str) -> str:
            """The UI sends "" or `~/…`: expanded here; the checks are every project's
            (`projects.creation`)."""
            return os.path.expanduser(value) if value.startswith("~") else value

    @extend_schema(
        operation_id="tasks_list",
        tags=["tasks"],
        parameters=[id_parameter("project_id", "Only this project's tasks.")],
        responses={200: openapi.TaskListSerializer, **errors(400)},
    )
    def get(self, request: Request) -> HttpResponse:
        """`{"tasks": [...]}`, optionally of one project, oldest first."""
        tasks = Task.objects.all()
        project_id = request.query_params.get("project_id")
        if project_id is not None:
            if not is_identifier(project_id):
                raise ApiError(400, f"invalid project_id {project_id!r}")
            tasks = tasks.filter(project_id=project_id)
        if not isinstance(request.accepted_renderer, JSONRenderer):  # the browsable API
            return Response({"tasks": tasks_to_api(tasks)})
        return json_list_response("tasks", task_batches(tasks))

    @extend_schema(
        operation_id="task_create",
        tags=["tasks"],
        request=InputSerializer,
        responses={201: openapi.TaskStartedSerializer, **errors(400, 404, 409, 503)},
    )
    def post(self, request: Request) -> Response:
        services.task_start_check()
        fields = validated_body(self.InputSerializer, request)
        fields.pop("thread_message_type", None)
        return Response(started_to_api(_submit(fields)), status=201)


def started_to_api(started: services.Started) -> dict[str, Any]:
    """`openapi.TaskStartedSerializer`: the task made (or attached to) and its run."""
    task = started.task
    return {
        "project_id": task.project_id,
        "task_id": task.task_id,
        "run_id": started.run.id,
        "status": "queued" if started.queued else "started",
        "queue_position": started.queue_position,
        "depends_on": task.depends_on,
    }


def _submit(fields: dict[str, Any]) -> services.Started:
    try:
        return services.task_submit(**fields)
    except (UnknownAgent, ValueError) as exc:
        raise ApiError(400, str(exc)) from exc
    except (services.TaskConflict, threads.ThreadParentWrongType) as exc:
        raise ApiError(409, str(exc)) from exc
    except (services.TaskNotFound, threads.ThreadParentNotFound) as exc:
        raise ApiError(404, str(exc)) from exc
    except OSError as exc:
        raise ApiError(500, f"could not create the task's folder or files: {exc}") from exc


def get_task(request: Request, task_id: str) -> Task:
    project_id = request.query_params.get("project_id", "")
    if not project_id:
        raise ApiError(400, "project_id is required")
    if not (is_identifier(project_id) and is_identifier(task_id)):
        raise ApiError(400, "invalid project_id or task_id")
    task = Task.objects.filter(project_id=project_id, task_id=task_id).first()
    if task is None:
        raise ApiError(404, f"task {task_id!r} not found in project {project_id!r}")
    return task


TASK_PARAMETERS = [
    *path_parameters("task_id"),
    id_parameter("project_id", "The task's project (required).", required=True),
]


class TaskDetailApi(APIView):
    @extend_schema(
        operation_id="task_get",
        tags=["tasks"],
        parameters=TASK_PARAMETERS,
        responses={200: openapi.TaskSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, task_id: str) -> Response:
        task = get_task(request, task_id)
        return Response(tasks_to_api(Task.objects.filter(pk=task.pk))[0])

    @extend_schema(
        operation_id="task_cancel",
        tags=["tasks"],
        parameters=TASK_PARAMETERS,
        responses={200: openapi.TaskCancelledSerializer, **errors(400, 404)},
    )
    def delete(self, request: Request, task_id: str) -> Response:
        """Cancel: stop its running runs, dequeue it, keep its data."""
        stopped = services.task_cancel(get_task(request, task_id), wait=True)
        return Response({"status": "cancelled", "stopped_runs": stopped})


class TaskMoveApi(APIView):
    @extend_schema_serializer(component_name="TaskMove")
    class InputSerializer(serializers.Serializer):
        column = serializers.ChoiceField(Task.Column.values)
        after = serializers.CharField(
            required=False,
            default="",
            allow_blank=True,
            max_length=128,
            help_text="The task id of the card just above it in that column; empty: none.",
        )
        before = serializers.CharField(
            required=False,
            default="",
            allow_blank=True,
            max_length=128,
            help_text="The task id of the card just below it; neither: at the column's end.",
        )

    @extend_schema(
        operation_id="task_move",
        tags=["tasks"],
        parameters=TASK_PARAMETERS,
        request=InputSerializer,
        responses={200: openapi.TaskMovedSerializer, **errors(400, 404)},
    )
    def post(self, request: Request, task_id: str) -> Response:
        """Move the task on the board: to a column, between two of its cards. Moving it to
        `cancelled` cancels it (its runs are stopped), as `DELETE` does."""
        task = get_task(request, task_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        moved = services.task_move(task, **data.validated_data)
        return Response(
            {
                "project_id": moved.project_id,
                "task_id": moved.task_id,
                "column": moved.column,
                "position": moved.position,
            }
        )


class SelfUpdateApi(APIView):
    @extend_schema_serializer(component_name="SelfUpdate")
    class InputSerializer(serializers.Serializer):
        binary_path = serializers.CharField(
            help_text="The restart hook: an absolute path to an executable file."
        )

    @extend_schema(
        operation_id="self_update_status", tags=["system"], responses=openapi.GateSerializer
    )
    def get(self, request: Request) -> Response:
        return Response(drain.gate_to_api(drain.gate_current()))

    @extend_schema(
        operation_id="self_update_request",
        tags=["system"],
        request=InputSerializer,
        responses={202: openapi.GateSerializer, **errors(400, 409)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        path = data.validated_data["binary_path"]
        if error := drain.hook_path_error(path):
            raise ApiError(400, error)
        try:
            gate = drain.update_request(path)
        except drain.DrainConflict as exc:
            raise ApiError(409, str(exc)) from exc
        return Response(drain.gate_to_api(gate), status=202)
