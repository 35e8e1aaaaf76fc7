"""`/api/v1/attempts`, the planning half: starting an attempt on a task, follow-ups, retries
from an earlier run, the attempt's draft, and subtasks made from an attempt (which start from
its branch). The reads, the stop and the worktree's operations are `runs`'s
(`runs.attempt_api.AttemptViewSet`, `runs.landing_api`); this app stands above it, so the
resource is assembled here (`tasks/urls.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from conductor_site.errors import ApiError
from conductor_site.http import validated_body
from conductor_site.ids import identifier_field
from conductor_site.openapi import errors
from conductor_site.parsers import JSONParser
from projects import git
from projects.models import Project
from runs import openapi
from runs.agents import UnknownAgent
from runs.attempt_api import ATTEMPT, AttemptViewSet, get_attempt, owner_answered
from runs.dev_server_api import DevServerActions
from runs.landing_api import LandingActions
from runs.models import Attempt
from runs.selectors import attempt_to_api
from runs.worktree_api import WorktreeActions
from tasks import planner
from tasks import services as task_services
from tasks.api import started_to_api
from tasks.draft_api import DraftSavedSerializer, DraftSaveSerializer, DraftSerializer, draft_put
from tasks.drafts import draft_delete, draft_of, draft_sent
from tasks.list_sql import tasks_to_api
from tasks.models import Task
from tasks.openapi import TaskSerializer, TaskStartedSerializer
from tasks.project_api import get_task
from tasks.tags import prompt_expand


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


class FollowUpSerializer(serializers.Serializer):
    prompt = serializers.CharField(trim_whitespace=False)

    def validate_prompt(self, prompt: str) -> str:
        """Kept as written (its spaces are the agent's to read), but never only spaces."""
        if not prompt.strip():
            raise serializers.ValidationError("write what the agent should do next")
        return prompt


class RetrySerializer(serializers.Serializer):
    run_id = identifier_field()
    prompt = serializers.CharField(
        trim_whitespace=False,
        required=False,
        max_length=1_000_000,
        help_text="The new run's prompt (`@tag`s expanded); the chosen run's own if absent.",
    )
    force = serializers.BooleanField(
        default=False,
        help_text="Retry over uncommitted changes, kept first under `saved_ref`.",
    )


class AttemptFollowUpSerializer(openapi.AttemptSerializer):
    run_id = serializers.CharField(help_text="The follow-up's agent run.")
    waiting = serializers.BooleanField(
        help_text="True while it waits for the attempt's active run to end (then it starts)."
    )


class AttemptChildrenSerializer(serializers.Serializer):
    parent_task = TaskSerializer(help_text="The attempt's task, as GET /api/v1/tasks/{id}.")
    current_attempt = openapi.AttemptSerializer()
    children = TaskSerializer(many=True, help_text="The subtasks made from it, oldest first.")


class AttemptsViewSet(LandingActions, DevServerActions, WorktreeActions, AttemptViewSet):
    @extend_schema(
        operation_id="attempt_create",
        tags=["attempts"],
        request=AttemptCreateSerializer,
        responses={201: openapi.AttemptStartedSerializer, **errors(400, 404, 409, 503)},
    )
    def create(self, request: Request) -> Response:
        """A new attempt on an existing task, in a worktree of its own on a new branch made
        from `base_branch`; started, or queued like any task (`queue_position`)."""
        fields = _body(AttemptCreateSerializer, request)
        task = get_task(fields["project_id"], fields["task_id"])
        if task.is_bus_only:  # only messages made it: there is nothing to attempt
            raise ApiError(404, f"task {task.task_id!r} not found in project {task.project_id!r}")
        base = fields.get("base_branch", "")
        if base:
            _check_base(task.project, base)
        agent, prompt = fields.get("agent") or task.agent_type, fields.get("prompt") or task.prompt
        with _start_refusals():
            started = task_services.attempt_submit(
                task, agent=agent, prompt=prompt, base_branch=base
            )
        attempt = get_attempt(started.run.attempt_id)
        body = {**attempt_to_api(attempt), "run_id": started.run.id}
        return Response({**body, "queue_position": started.queue_position}, status=201)

    @extend_schema(
        operation_id="attempt_follow_up",
        tags=["attempts"],
        parameters=ATTEMPT,
        request=FollowUpSerializer,
        responses={201: AttemptFollowUpSerializer, **errors(400, 404, 409, 503)},
    )
    @action(detail=True, methods=["post"], url_path="follow-up")
    def follow_up(self, request: Request, attempt_id: str) -> Response:
        """A new agent run in the attempt's worktree resuming the agent's own session: it
        starts now, or, while a run is active, waits and starts once that work ends. The
        attempt's draft is removed when it holds the text sent (`draft_sent`)."""
        attempt = get_attempt(attempt_id)
        fields = _body(FollowUpSerializer, request)
        with _start_refusals():
            run, waiting = task_services.attempt_followup(attempt, fields["prompt"])
        draft_sent(attempt.id, fields["prompt"])
        attempt.refresh_from_db()
        return Response(
            {**attempt_to_api(attempt), "run_id": run.id, "waiting": waiting}, status=201
        )

    @extend_schema(
        operation_id="attempt_retry",
        tags=["attempts"],
        parameters=ATTEMPT,
        request=RetrySerializer,
        responses={200: openapi.AttemptRetriedSerializer, **errors(400, 404, 409, 503)},
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def retry(self, request: Request, attempt_id: str) -> Response:
        """Go back to where one of the attempt's agent runs started: the worktree is reset to
        that run's `head_before`, it and every later run are set aside (`dropped_at`), and a
        new agent run starts, resuming the session of the last run before it that was not.
        409 with the files on uncommitted changes unless `force` (they are then kept under
        `saved_ref`), while a run is active, or for a run with no recorded start commit."""
        attempt = get_attempt(attempt_id)
        fields = _body(RetrySerializer, request)
        prompt = prompt_expand(fields["prompt"]) if fields.get("prompt") else ""
        _refuse_while_draining()
        return owner_answered(
            attempt,
            "retry",
            "retried",
            run_id=fields["run_id"],
            prompt=prompt,
            force=fields["force"],
        )

    @extend_schema(
        operation_id="attempt_draft_get",
        methods=["GET"],
        tags=["attempts"],
        parameters=ATTEMPT,
        responses={200: DraftSerializer, **errors(400, 404)},
    )
    @extend_schema(
        operation_id="attempt_draft_save",
        methods=["PUT"],
        tags=["attempts"],
        parameters=ATTEMPT,
        request=DraftSaveSerializer,
        responses={200: DraftSavedSerializer, **errors(400, 404, 409)},
    )
    @extend_schema(
        operation_id="attempt_draft_delete",
        methods=["DELETE"],
        tags=["attempts"],
        parameters=ATTEMPT,
        responses={204: None, **errors(400, 404)},
    )
    @action(detail=True, methods=["get", "put", "delete"], parser_classes=[JSONParser])
    def draft(self, request: Request, attempt_id: str) -> Response:
        """The attempt's follow-up draft, as `/api/v1/drafts/{attempt_id}`: `PUT` saves from
        the version read (0: none yet; a stale one is a 409); a queued draft is sent as the
        next follow-up once the attempt is idle (at once, if it is)."""
        attempt = get_attempt(attempt_id)
        if request.method == "PUT":
            return draft_put(attempt, request)
        if request.method == "DELETE":
            if not draft_delete(attempt.id):
                raise ApiError(404, f"attempt {attempt.id!r} has no draft")
            return Response(status=204)
        draft = draft_of(attempt.id)
        if draft is None:
            raise ApiError(404, f"attempt {attempt.id!r} has no draft")
        return Response(DraftSerializer(draft).data)

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
        attempt = get_attempt(attempt_id)
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
    fields = _body(SubtaskCreateSerializer, request)
    agent = fields.get("agent_type") or attempt.task.agent_type
    with _start_refusals():
        return task_services.subtask_submit(
            attempt, task_id=fields["task_id"], agent_type=agent, prompt=fields["prompt"]
        )


def _body(serializer: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """A start's body, validated; refused while this server starts no tasks."""
    task_services.task_start_check()
    return validated_body(serializer, request)


@contextmanager
def _start_refusals() -> Iterator[None]:
    """What the start path refuses, as `POST /api/v1/tasks` answers it."""
    try:
        yield
    except (UnknownAgent, ValueError) as exc:
        raise ApiError(400, str(exc)) from exc
    except task_services.TaskConflict as exc:
        raise ApiError(409, str(exc)) from exc


def _refuse_while_draining() -> None:
    with transaction.atomic():
        if planner.gate_locked().draining:
            raise ApiError(409, "a self-update is draining the server: no retry starts now")


def _check_base(project: Project, base: str) -> None:
    if not project.has_repository:
        raise ApiError(400, f"project {project.id!r} has no git repository: base_branch is moot")
    if not git.branch_name_valid(base) or not git.branch_exists(project.project_root, base):
        raise ApiError(400, f"base_branch {base!r} is not a branch of {project.project_root}")
