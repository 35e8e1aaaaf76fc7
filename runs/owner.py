"""Run an operation on an attempt's worktree where the worktree is: on the worker that made
it (`Attempt.worker`, shared/DESIGN.md §7), so the API process never touches a worktree
another host made.

`on_owner(attempt, op, **kwargs)` is the one way in. Embedded mode has one process, which
owns every worktree: the operation runs in place. In production it goes to the owner's own
queue as the Celery task `runs.owner_op` (defined here; `conductor_site/celery.py` finds it)
and the caller waits, bounded by `CONDUCTOR_OWNER_TIMEOUT_SECONDS`, for the reply the worker
pushes onto a Redis list of the request's own (Celery keeps no results here). An owner that
has stopped heartbeating is not waited for. The caller gets the answer, `OwnerUnavailable`
(503) saying what to do, or the operation's own refusal (a `DomainError`) re-raised as
`OwnerRefused` with the same status, message and details.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from typing import Any

import redis
from celery import shared_task
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import OperationalError

from conductor_site.errors import DomainError
from projects import git
from runs import archive, branch_status, commits, dev_server, diffs, diffwatch, iterate, landing
from runs.models import Attempt, Worker
from runs.tasks import queue_for

REPLY_TTL_SECONDS = 60


def _landing(service: Callable[..., Any]) -> Callable[..., Any]:
    """A landing service (`runs.landing`, `runs.iterate`: each takes the attempt's id and
    holds its operation slot itself) as an owner operation: its dataclass answer as a dict."""

    def operation(attempt: Attempt, **kwargs: Any) -> Any:
        answer = service(attempt.id, **kwargs)
        if dataclasses.is_dataclass(answer) and not isinstance(answer, type):
            return dataclasses.asdict(answer)
        return answer

    return operation


# The operations an owner runs: each takes the attempt and JSON-able keyword arguments and
# returns a JSON-able answer.
OWNER_OPS: dict[str, Callable[..., Any]] = {
    "diff": diffs.attempt_diff,
    "live_diff": diffwatch.live_diff,
    "branch_status": branch_status.attempt_branch_status,
    "commit_info": commits.attempt_commit_info,
    "commit_compare": commits.attempt_commit_compare,
    "merge": _landing(landing.attempt_merge),
    "rebase": _landing(landing.attempt_rebase),
    "rebase_continue": _landing(landing.attempt_rebase_continue),
    "conflicts_abort": _landing(landing.attempt_conflicts_abort),
    "push": _landing(landing.attempt_push),
    "pr_create": _landing(landing.attempt_pr_create),
    "pr_attach": _landing(landing.attempt_pr_attach),
    "change_target": _landing(landing.attempt_target_change),
    "rename_branch": _landing(landing.attempt_branch_rename),
    "dev_server_start": dev_server.dev_server_start,
    "archive": _landing(archive.attempt_worktree_archive),
    "retry": _landing(iterate.attempt_retry),
    "delete_file": _landing(iterate.attempt_file_delete),
}


class OwnerUnavailable(DomainError):
    status_code = 503


class OwnerRefused(DomainError):
    """The owner ran the operation and refused it: its status, message and details."""

    def __init__(self, status_code: int, message: str, details: dict[str, Any]) -> None:
        super().__init__(message, **details)
        self.status_code = status_code


def on_owner(attempt: Attempt, op: str, **kwargs: Any) -> Any:
    """The answer of `OWNER_OPS[op]` for the attempt, computed by the worker that owns it."""
    if settings.EMBEDDED:
        return _answer(_run_here(attempt, op, kwargs), attempt)
    if not attempt.worker:
        raise OwnerUnavailable(
            f"attempt {attempt.id} has not been taken by a worker yet; try again once it runs",
            attempt_id=attempt.id,
        )
    _check_alive(attempt.worker)
    return _answer(_ask(attempt, op, kwargs), attempt)


def _check_alive(name: str) -> None:
    """Refuse at once when the owner's heartbeats stopped; one not heard from yet (a worker
    that has just started) is asked anyway."""
    timeout = float(settings.CONDUCTOR["HEARTBEAT_TIMEOUT_SECONDS"])
    seen = Worker.objects.filter(name=name).values_list("heartbeat_at", flat=True).first()
    if seen is not None and seen < timezone.now() - timedelta(seconds=timeout):
        raise OwnerUnavailable(
            f"worker {name!r}, which owns this attempt's worktree, is not running (last seen "
            f"{seen.isoformat()}): start `conductor worker --name {name}` on its host",
            worker=name,
        )


def _ask(attempt: Attempt, op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    timeout = float(settings.CONDUCTOR["OWNER_TIMEOUT_SECONDS"])
    reply = f"conductor:owner-reply:{uuid.uuid4().hex}"
    try:
        owner_op.apply_async(
            args=(op, attempt.id, kwargs, reply), queue=queue_for(attempt), expires=timeout
        )
        got = _redis().blpop([reply], timeout=timeout)
    except (OperationalError, redis.RedisError, OSError) as exc:
        raise OwnerUnavailable(
            f"cannot reach the worker that owns this attempt's worktree: Redis: {exc}",
            worker=attempt.worker,
        ) from exc
    if got is None:
        raise OwnerUnavailable(
            f"worker {attempt.worker!r}, which owns this attempt's worktree, did not answer "
            f"within {timeout:g}s (busy or hung); try again",
            worker=attempt.worker,
        )
    answer: dict[str, Any] = json.loads(got[1])
    return answer


def _answer(reply: dict[str, Any], attempt: Attempt) -> Any:
    if "refused" in reply:
        refused = reply["refused"]
        raise OwnerRefused(refused["status"], refused["message"], refused["details"])
    if "missing" in reply:
        raise OwnerRefused(404, f"attempt {attempt.id!r} not found", {})
    return reply["ok"]


@shared_task(name="runs.owner_op", ignore_result=True)
def owner_op(op: str, attempt_id: str, kwargs: dict[str, Any], reply: str) -> None:
    """On the owner: run the operation and push its answer (or refusal) for the caller."""
    attempt = Attempt.objects.select_related("task__project").filter(id=attempt_id).first()
    answer = _run_here(attempt, op, kwargs) if attempt else {"missing": True}
    client = _redis()
    client.rpush(reply, json.dumps(answer))
    client.expire(reply, REPLY_TTL_SECONDS)  # a caller that gave up never reads it


def _run_here(attempt: Attempt, op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The operation's answer, or its refusal, as the reply a waiting caller reads."""
    try:
        return {"ok": OWNER_OPS[op](attempt, **kwargs)}
    except DomainError as exc:
        return {"refused": _refusal(exc.status_code, exc.message, exc.details)}
    except git.GitError as exc:
        return {"refused": _refusal(409, str(exc), {"git": str(exc)})}


def _refusal(status: int, message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"status": status, "message": message, "details": details}


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)
