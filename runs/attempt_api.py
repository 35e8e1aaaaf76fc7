"""`/api/v1/attempts`: an agent's tries at a task, their runs, branch status and diff, and
stopping them. Starting attempts and subtasks is planning: `tasks/attempt_api.py` extends this
ViewSet with it, and `tasks/urls.py` routes the whole resource.

Reads of a worktree (diff, branch status, commits) go through `runs.owner.on_owner`, so they run on
the worker that owns it; when it cannot answer, a diff falls back on the snapshot stored when
the attempt's last run ended, and says so (`source: "snapshot"`, `stale_reason`).
"""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from conductor_site.errors import ApiError
from conductor_site.http import paged, validated_body
from conductor_site.ids import is_identifier
from conductor_site.openapi import bool_parameter, errors, path_parameters
from conductor_site.params import query_bool, query_identifier, query_int
from conductor_site.parsers import JSONParser
from projects import git
from runs import commits, diffs, openapi, services
from runs.diffs import Diff
from runs.models import Attempt, Run
from runs.owner import OwnerRefused, OwnerUnavailable, on_owner
from runs.selectors import attempt_run_to_api, attempt_to_api

ATTEMPT_LIST_DEFAULT_LIMIT = 50
ATTEMPT_LIST_MAX_LIMIT = 500
ATTEMPT = path_parameters("attempt_id")
SHA_MAX_CHARS = 255  # as a branch name


class DeleteFileSerializer(serializers.Serializer):
    path = serializers.CharField(
        max_length=4096, trim_whitespace=False, help_text="Relative to the worktree."
    )


class AttemptViewSet(viewsets.ViewSet):
    lookup_field = "attempt_id"
    lookup_value_regex = "[^/]+"  # checked in `_get`: a bad id is a 400, not a 404

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
        parameters=[*ATTEMPT, openapi.INCLUDE_DROPPED],
        responses={200: openapi.AttemptDetailSerializer, **errors(400, 404)},
    )
    def retrieve(self, request: Request, attempt_id: str) -> Response:
        """The attempt (branch, base, target, worktree, worker, status) with its runs (those
        a retry set aside only with `include_dropped`)."""
        attempt = get_attempt(attempt_id)
        runs = _runs(attempt, query_bool(request, "include_dropped"))
        return Response({**attempt_to_api(attempt), "runs": runs})

    @extend_schema(
        operation_id="attempt_runs",
        tags=["attempts"],
        parameters=[*ATTEMPT, openapi.INCLUDE_DROPPED],
        responses={200: openapi.AttemptRunListSerializer, **errors(400, 404)},
    )
    @action(detail=True, methods=["get"])
    def runs(self, request: Request, attempt_id: str) -> Response:
        """The attempt's execution processes (setup, agent, cleanup, dev server runs), in the
        order they ran; each is stopped with `POST /api/v1/runs/{run_id}/stop`. Runs a retry
        set aside (`dropped_at`) are left out unless `include_dropped`."""
        attempt = get_attempt(attempt_id)
        return Response({"runs": _runs(attempt, query_bool(request, "include_dropped"))})

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
        return Response(on_owner(get_attempt(attempt_id), "branch_status"))

    @extend_schema(
        operation_id="attempt_commit_info",
        tags=["attempts"],
        parameters=[*ATTEMPT, openapi.SHA_PARAMETER],
        responses={200: openapi.CommitInfoSerializer, **errors(400, 404, 409, 503)},
    )
    @action(detail=True, methods=["get"], url_path="commit-info")
    def commit_info(self, request: Request, attempt_id: str) -> Response:
        """A commit's subject, body, author, date and parents, read by the worktree's owner."""
        sha = _query_sha(request)
        return Response(on_owner(get_attempt(attempt_id), "commit_info", sha=sha))

    @extend_schema(
        operation_id="attempt_commit_compare",
        tags=["attempts"],
        parameters=[*ATTEMPT, openapi.SHA_PARAMETER],
        responses={200: openapi.CommitCompareSerializer, **errors(400, 404, 409, 503)},
    )
    @action(detail=True, methods=["get"], url_path="commit-compare")
    def commit_compare(self, request: Request, attempt_id: str) -> Response:
        """How a commit stands against the attempt's HEAD: commits ahead and behind."""
        sha = _query_sha(request)
        return Response(on_owner(get_attempt(attempt_id), "commit_compare", sha=sha))

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
        return Response(_diff(get_attempt(attempt_id), stats_only))

    @extend_schema(
        operation_id="attempt_delete_file",
        tags=["attempts"],
        parameters=ATTEMPT,
        request=DeleteFileSerializer,
        responses={200: openapi.AttemptFileDeletedSerializer, **errors(400, 404, 409, 503)},
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser], url_path="delete-file")
    def delete_file(self, request: Request, attempt_id: str) -> Response:
        """Delete a file of the worktree (a symlink itself, never what it points at) and
        commit `Delete <path>` on the attempt's branch, on the worker that owns it. The path
        is relative and stays inside the worktree: absolute, `..`, `.git`, NUL or a symlinked
        folder on the way is a 400; a missing file a 404; 409 while a run is active."""
        attempt = get_attempt(attempt_id)
        path = validated_body(DeleteFileSerializer, request)["path"]
        return owner_answered(attempt, "delete_file", "deleted", path=path)

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
        attempt = get_attempt(attempt_id)
        stopped = services.attempt_stop(attempt)
        services.runs_await_end(stopped)
        attempt.refresh_from_db(fields=["status"])
        return Response(
            {"attempt_id": attempt.id, "status": attempt.status, "stopped_run_ids": stopped}
        )


def _query_sha(request: Request) -> str:
    """`?sha=`: hex digits or a ref name, never anything git would read as an option or a
    revision expression."""
    sha = request.query_params.get("sha", "")
    if len(sha) > SHA_MAX_CHARS or not (commits.SHA_RE.match(sha) or git.branch_name_valid(sha)):
        raise ApiError(400, f"sha must be a commit's hex object name or a ref name, not {sha!r}")
    return sha


def owner_answered(attempt: Attempt, op: str, key: str, **kwargs: Any) -> Response:
    """Run the operation on the attempt's owner; the attempt as it is after, with the
    operation's answer as `key`."""
    answer = on_owner(attempt, op, **kwargs)
    attempt.refresh_from_db()
    return Response({**attempt_to_api(attempt), key: answer})


def get_attempt(attempt_id: str) -> Attempt:
    if not is_identifier(attempt_id):
        raise ApiError(400, f"invalid attempt id {attempt_id!r}")
    attempt = Attempt.objects.select_related("task__project").filter(id=attempt_id).first()
    if attempt is None:
        raise ApiError(404, f"attempt {attempt_id!r} not found")
    return attempt


def _runs(attempt: Attempt, include_dropped: bool) -> list[dict[str, Any]]:
    """In the order they ran (the agent run is made first, but runs after the setup run);
    those not started yet last."""
    order = (F("started_at").asc(nulls_last=True), "created_at", "id")
    runs: QuerySet[Run] = attempt.runs.defer("prompt").order_by(*order)
    if not include_dropped:
        runs = runs.filter(dropped_at=None)
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
