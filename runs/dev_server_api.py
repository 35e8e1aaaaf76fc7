"""`/api/v1/attempts/{id}/dev-server` and `dev-server/stop`: the project's dev server in an
attempt's worktree (`runs.dev_server`), as actions `tasks/attempt_api.py` mixes into the
attempts resource. The start runs on the worker that owns the worktree (`runs.owner`); the
stop is a run's stop, which that worker's housekeeping carries out wherever it is."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from conductor_site.errors import ApiError
from conductor_site.openapi import errors
from runs import dev_server, openapi
from runs.attempt_api import ATTEMPT, get_attempt
from runs.landing_api import JSON_ONLY
from runs.models import Attempt, Run
from runs.owner import on_owner
from runs.selectors import attempt_run_to_api


class DevServerActions:
    """The dev server actions of the attempts ViewSet."""

    @extend_schema(
        operation_id="attempt_dev_server_get",
        methods=["GET"],
        tags=["attempts"],
        parameters=ATTEMPT,
        responses={200: openapi.AttemptRunSerializer, **errors(400, 404)},
    )
    @extend_schema(
        operation_id="attempt_dev_server_start",
        methods=["POST"],
        tags=["attempts"],
        parameters=ATTEMPT,
        request=None,
        responses={201: openapi.AttemptRunSerializer, **errors(400, 404, 409, 503)},
    )
    @action(detail=True, methods=["get", "post"], parser_classes=JSON_ONLY, url_path="dev-server")
    def dev_server(self, request: Request, attempt_id: str) -> Response:
        """GET: the attempt's latest dev server run (404 when it never had one), with the URL
        it printed. POST: start the project's dev-server script in the attempt's worktree, on
        the worker that owns it; 409 when the project has none, the worktree is gone, or a dev
        server runs already (`details.run_id` names it). Its log is any run's:
        `/api/v1/runs/{run_id}/stream`, `/ws/runs/{run_id}/logs/`."""
        attempt = get_attempt(attempt_id)
        if request.method == "GET":
            return Response(attempt_run_to_api(_latest(attempt)))
        dev_server.dev_server_script(attempt)  # no script: said here, whatever the worker
        return Response(on_owner(attempt, "dev_server_start"), status=201)

    @extend_schema(
        operation_id="attempt_dev_server_stop",
        tags=["attempts"],
        parameters=ATTEMPT,
        request=None,
        responses={200: openapi.AttemptRunSerializer, **errors(400, 404, 409)},
    )
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY, url_path="dev-server/stop")
    def dev_server_stop(self, request: Request, attempt_id: str) -> Response:
        """Stop the attempt's dev server (SIGINT, then SIGTERM, then SIGKILL to its process
        group) and answer its run once it ended (`stopped`), bounded as
        `POST /api/v1/runs/{run_id}/stop`; 409 when none runs."""
        attempt = get_attempt(attempt_id)
        if not dev_server.dev_servers_stop(attempt):
            raise ApiError(409, f"attempt {attempt_id!r} runs no dev server")
        return Response(attempt_run_to_api(_latest(attempt)))


def _latest(attempt: Attempt) -> Run:
    run = dev_server.dev_server_latest(attempt)
    if run is None:
        raise ApiError(404, f"attempt {attempt.id!r} has never run a dev server")
    return run
