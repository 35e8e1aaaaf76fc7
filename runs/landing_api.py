"""`/api/v1/attempts/{id}/merge`, `rebase`, `rebase/continue`, `conflicts/abort`, `push`, `pr`,
`pr/attach`, `change-target-branch` and `rename-branch`: landing an attempt's work (and
moving its branch), as actions `tasks/attempt_api.py` mixes into the attempts resource.

Each action validates its body, runs its `runs.landing` service once through
`runs.owner.on_owner` (on the worker that owns the worktree), and answers the attempt as it is
after, with what the operation did under a key of its own. Every refusal is the service's
`DomainError`, answered by the one error mapping (`conductor_site.errors`): no view catches
anything.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from conductor_site.http import validated_body
from conductor_site.openapi import errors
from conductor_site.parsers import JSONParser
from projects import git
from runs import openapi
from runs.attempt_api import ATTEMPT, get_attempt, owner_answered
from runs.models import MergeStrategy

COMMIT_RE = r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$"  # a full SHA-1 or SHA-256 object name
MESSAGE_MAX_CHARS = 65536
LANDING_ERRORS = errors(400, 404, 409, 503)
# JSON bodies only: the server (Twisted, under Daphne) answers a malformed multipart body with
# a bare 400 before Django sees it, and these bodies are all optional, so an empty form is
# valid input; JSON-only, a form body is a 415 in the error shape.
JSON_ONLY = [JSONParser]


class MergeSerializer(serializers.Serializer):
    strategy = serializers.ChoiceField(
        MergeStrategy.choices,
        default=MergeStrategy.SQUASH,
        help_text="squash: one commit; merge: a merge commit; rebase: replay and fast-forward.",
    )
    message = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=MESSAGE_MAX_CHARS,
        help_text="The commit message (squash, merge); the task's title and the agent's "
        "summary if absent.",
    )
    expected_target_commit = serializers.RegexField(
        COMMIT_RE,
        required=False,
        help_text="The target's commit the user reviewed: 409 if the target moved since.",
    )


class PushSerializer(serializers.Serializer):
    force = serializers.BooleanField(
        default=False, help_text="With a lease: replaces the remote branch (after a rebase)."
    )


class PrCreateSerializer(serializers.Serializer):
    title = serializers.CharField(
        required=False, max_length=256, help_text="The task's title if absent."
    )
    body = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=MESSAGE_MAX_CHARS,
        help_text="The agent's summary if absent.",
    )
    base = serializers.CharField(
        required=False, max_length=255, help_text="The branch to merge into; the target if absent."
    )

    def validate_base(self, value: str) -> str:
        if not git.branch_name_valid(value):
            raise serializers.ValidationError(f"{value!r} is not a valid branch name")
        return value


class PrAttachSerializer(serializers.Serializer):
    number = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, help_text="The pull request's number."
    )
    url = serializers.URLField(
        required=False, max_length=2048, help_text="Or its URL; neither: the branch's own."
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if "number" in data and "url" in data:
            raise serializers.ValidationError("give the pull request's number or its url, not both")
        return data


class BranchField(serializers.CharField):
    """A branch name `git branch` accepts: never an option, a shorthand or a range."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=255, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = str(super().to_internal_value(data))
        if not git.branch_name_valid(value):
            raise serializers.ValidationError(f"{value!r} is not a valid branch name")
        return value


class TargetBranchSerializer(serializers.Serializer):
    target_branch = BranchField(help_text="An existing branch of the repository.")


class RenameBranchSerializer(serializers.Serializer):
    branch = BranchField(help_text="The branch's new name; no branch may have it yet.")


class LandingActions:
    """The landing actions of the attempts ViewSet."""

    @extend_schema(
        operation_id="attempt_merge",
        tags=["attempts"],
        parameters=ATTEMPT,
        request=MergeSerializer,
        responses={200: openapi.AttemptMergedSerializer, **LANDING_ERRORS},
    )
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY)
    def merge(self, request: Request, attempt_id: str) -> Response:
        """Merge the branch into its target, computed without any working tree; a target
        checked out somewhere is merged only when that tree is clean, and brought up to date.
        409 on conflicts (with the files), a target that moved, a dirty tree, or nothing new.
        The task is then `done` on the board."""
        fields = validated_body(MergeSerializer, request)
        expected = fields.get("expected_target_commit", "")
        return owner_answered(
            get_attempt(attempt_id),
            "merge",
            "merged",
            strategy=fields["strategy"],
            message=fields.get("message", ""),
            expected=expected,
        )

    @extend_schema(
        operation_id="attempt_rebase",
        tags=["attempts"],
        parameters=ATTEMPT,
        request=None,
        responses={200: openapi.AttemptRebasedSerializer, **LANDING_ERRORS},
    )
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY)
    def rebase(self, request: Request, attempt_id: str) -> Response:
        """Rebase the branch onto its target in the attempt's worktree. On conflicts (409,
        with the files) the rebase stays in progress: resolve them there, then
        `rebase/continue`, or `conflicts/abort`."""
        return owner_answered(get_attempt(attempt_id), "rebase", "rebased")

    @extend_schema(
        operation_id="attempt_rebase_continue",
        tags=["attempts"],
        parameters=ATTEMPT,
        request=None,
        responses={200: openapi.AttemptRebasedSerializer, **LANDING_ERRORS},
    )
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY, url_path="rebase/continue")
    def rebase_continue(self, request: Request, attempt_id: str) -> Response:
        """Go on with the rebase once its conflicts are resolved in the worktree (everything
        there is staged); 409 while a conflicted file still has conflict markers."""
        return owner_answered(get_attempt(attempt_id), "rebase_continue", "rebased")

    @extend_schema(
        operation_id="attempt_conflicts_abort",
        tags=["attempts"],
        parameters=ATTEMPT,
        request=None,
        responses={200: openapi.AttemptAbortedSerializer, **LANDING_ERRORS},
    )
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY, url_path="conflicts/abort")
    def conflicts_abort(self, request: Request, attempt_id: str) -> Response:
        """Abort the rebase (or merge, cherry-pick, revert) stopped in the worktree: it is
        back where it was before."""
        return owner_answered(get_attempt(attempt_id), "conflicts_abort", "aborted")

    @extend_schema(
        operation_id="attempt_push",
        tags=["attempts"],
        parameters=ATTEMPT,
        request=PushSerializer,
        responses={200: openapi.AttemptPushedSerializer, **LANDING_ERRORS},
    )
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY)
    def push(self, request: Request, attempt_id: str) -> Response:
        """Push the branch to the project's remote (`origin`, or its only one), under the
        same name; 409 with git's message when the remote refuses (`remote_moved` when a
        forced push would drop a commit somebody pushed there)."""
        fields = validated_body(PushSerializer, request)
        return owner_answered(get_attempt(attempt_id), "push", "pushed", force=fields["force"])

    @extend_schema(
        operation_id="attempt_pr_create",
        tags=["attempts"],
        parameters=ATTEMPT,
        request=PrCreateSerializer,
        responses={200: openapi.AttemptPullRequestSerializer, **LANDING_ERRORS},
    )
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY)
    def pr(self, request: Request, attempt_id: str) -> Response:
        """Push the branch and open a pull request through `gh`; 400 saying how to install
        it or log in when it cannot; 409 while the attempt has an open one."""
        fields = validated_body(PrCreateSerializer, request)
        return owner_answered(
            get_attempt(attempt_id),
            "pr_create",
            "pull_request",
            title=fields.get("title", ""),
            body=fields.get("body", ""),
            target_branch=fields.get("base", ""),
        )

    @extend_schema(
        operation_id="attempt_change_target_branch",
        tags=["attempts"],
        parameters=ATTEMPT,
        request=TargetBranchSerializer,
        responses={200: openapi.AttemptSerializer, **LANDING_ERRORS},
    )
    @action(
        detail=True, methods=["post"], parser_classes=JSON_ONLY, url_path="change-target-branch"
    )
    def change_target_branch(self, request: Request, attempt_id: str) -> Response:
        """Merge into (and compare with) another existing branch from now on; 400 when the
        repository has no such branch."""
        fields = validated_body(TargetBranchSerializer, request)
        return owner_answered(
            get_attempt(attempt_id),
            "change_target",
            "target_branch",
            target_branch=fields["target_branch"],
        )

    @extend_schema(
        operation_id="attempt_rename_branch",
        tags=["attempts"],
        parameters=ATTEMPT,
        request=RenameBranchSerializer,
        responses={200: openapi.AttemptSerializer, **LANDING_ERRORS},
    )
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY, url_path="rename-branch")
    def rename_branch(self, request: Request, attempt_id: str) -> Response:
        """Rename the attempt's branch (`git branch -m`; its worktree follows). 409 while its
        pull request is open, while it runs or another operation holds it, or when a branch
        has the name already."""
        fields = validated_body(RenameBranchSerializer, request)
        return owner_answered(
            get_attempt(attempt_id), "rename_branch", "branch", branch=fields["branch"]
        )

    @extend_schema(
        operation_id="attempt_pr_attach",
        tags=["attempts"],
        parameters=ATTEMPT,
        request=PrAttachSerializer,
        responses={200: openapi.AttemptPullRequestSerializer, **LANDING_ERRORS},
    )
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY, url_path="pr/attach")
    def pr_attach(self, request: Request, attempt_id: str) -> Response:
        """Record an existing pull request of the branch (by number or URL, else the one
        whose head is the branch); 409 when it is another branch's."""
        fields = validated_body(PrAttachSerializer, request)
        selector = str(fields.get("number", "")) or fields.get("url", "")
        return owner_answered(get_attempt(attempt_id), "pr_attach", "pull_request", pr=selector)
