"""`POST /api/v1/attempts/{id}/archive`: remove an attempt's worktree and keep its branch, as an
action `tasks/attempt_api.py` mixes into the attempts resource. The archive itself is
`runs.archive`'s, run on the worker that owns the worktree (`runs.owner.on_owner`)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from conductor_site.openapi import errors
from conductor_site.parsers import JSONParser
from runs import openapi
from runs.attempt_api import ATTEMPT, get_attempt, owner_answered


class WorktreeActions:
    """The worktree actions of the attempts ViewSet."""

    @extend_schema(
        operation_id="attempt_archive",
        tags=["attempts"],
        parameters=ATTEMPT,
        request=None,
        responses={200: openapi.AttemptArchivedSerializer, **errors(400, 404, 409, 503)},
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def archive(self, request: Request, attempt_id: str) -> Response:
        """Archive the attempt's worktree: anything uncommitted is committed as WIP on its
        branch, then the folder is removed with git; the branch and its history stay, and a
        follow-up makes the worktree again. 409 while a run of the attempt is active or another
        operation holds it, while a rebase is stopped in it, or when its path is not a
        Conductor worktree inside the worktree root (nothing is removed then)."""
        return owner_answered(get_attempt(attempt_id), "archive", "archived", reason="requested")
