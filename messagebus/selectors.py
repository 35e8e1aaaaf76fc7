"""Reading the message bus: the API shape of a message, cursors, and project totals.

There is one bus per project and one per task. A message's `msg_id` sorts in append order
across the whole database and equals its primary-key order (see `messagebus.services`), so a
cursor is "every message whose pk is above the cursor's". Reads never skip a message that
commits late, because appends are serialized: pk order is commit order.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from conductor_site.db_functions import OctetLength
from messagebus.models import QUESTION, Message
from projects.models import Project
from runs.selectors import rfc3339
from tasks.models import OpenQuestion, Task


class BusNotFound(LookupError):
    """The project, or the task within it, does not exist."""


class UnknownCursor(LookupError):
    """`after`/`since` names no message of the project."""

    def __init__(self, msg_id: str) -> None:
        super().__init__(f"message id not found: {msg_id!r}")
        self.msg_id = msg_id


def message_to_api(m: Message) -> dict[str, Any]:
    """Every list item and stream event carries this whole shape (CONTRACT.md, AMB-33)."""
    timestamp = rfc3339(m.created_at)
    return {
        "msg_id": m.msg_id,
        "timestamp": timestamp,
        "ts": timestamp,
        "type": m.type,
        "project_id": m.project_id,
        "task_id": m.task.task_id if m.task is not None else None,
        "run_id": m.run_id,
        "parents": [str(parent) for parent in m.parents or []],
        "meta": {str(key): str(value) for key, value in (m.meta or {}).items()},
        "body": m.body,
    }


def bus_task(project_id: str, task_id: str | None) -> Task | None:
    """The task whose bus is meant (None: the project's); BusNotFound if either is unknown."""
    if task_id is None:
        if not Project.objects.filter(id=project_id).exists():
            raise BusNotFound(f"project {project_id!r} not found")
        return None
    task = Task.objects.filter(project_id=project_id, task_id=task_id).first()
    if task is None:
        if not Project.objects.filter(id=project_id).exists():
            raise BusNotFound(f"project {project_id!r} not found")
        raise BusNotFound(f"task {task_id!r} not found in project {project_id!r}")
    return task


def messages_after(
    *,
    project_id: str,
    task_id: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[Message]:
    """Oldest first. Without `task_id`: the project bus and all its task buses merged; with
    one: that task's bus. `after` is exclusive; `limit` keeps the LAST `limit` after it."""
    messages = _bus_messages(project_id, task_id)
    if after:
        messages = messages.filter(id__gt=_cursor_pk(project_id, after))
    if limit is None:
        return list(messages.order_by("id"))
    return list(reversed(messages.order_by("-id")[:limit]))


def messages_before(
    *, project_id: str, task_id: str | None = None, before: str | None = None, limit: int
) -> tuple[list[Message], bool]:
    """The dashboard's pages of a bus, read from the newest back: the last `limit` messages
    before `before` (exclusive; None: the newest), oldest first, and whether earlier ones
    exist (its "Show earlier"). The same buses as `messages_after`."""
    messages = _bus_messages(project_id, task_id)
    if before:
        messages = messages.filter(id__lt=_cursor_pk(project_id, before))
    page = list(messages.order_by("-id")[: limit + 1])
    return list(reversed(page[:limit])), len(page) > limit


def open_question_ids(messages: list[Message]) -> list[str]:
    """The msg_ids of `messages` that are questions no message has answered yet."""
    asked = [message.pk for message in messages if message.type == QUESTION]
    questions = OpenQuestion.objects.filter(message__in=asked)
    return list(questions.values_list("message__msg_id", flat=True))


def _bus_messages(project_id: str, task_id: str | None) -> QuerySet[Message]:
    """The task's bus, or (no task) the project's merged with its task buses; BusNotFound."""
    task = bus_task(project_id, task_id)
    messages = Message.objects.filter(project_id=project_id).select_related("task")
    return messages if task is None else messages.filter(task=task)


def _cursor_pk(project_id: str, msg_id: str) -> int:
    """A cursor may name a message of any bus of the project (the merged view mixes them)."""
    pk = (
        Message.objects.filter(project_id=project_id, msg_id=msg_id)
        .values_list("id", flat=True)
        .first()
    )
    if pk is None:
        raise UnknownCursor(msg_id)
    return pk


def bus_totals(project_id: str) -> tuple[int, int]:
    """(buses that hold messages: the project bus and each task bus, total body bytes)."""
    totals = Message.objects.filter(project_id=project_id).aggregate(
        tasks=Count("task", distinct=True),
        project_bus=Count("id", filter=Q(task__isnull=True)),
        bytes=Coalesce(Sum(OctetLength("body")), 0),
    )
    buses = int(totals["tasks"]) + (1 if totals["project_bus"] else 0)
    return buses, int(totals["bytes"])


def newest_msg_id(project_id: str) -> str:
    """The project's newest message on any of its buses ('' for none)."""
    newest = Message.objects.filter(project_id=project_id).order_by("-id")
    return next(iter(newest.values_list("msg_id", flat=True)[:1]), "")
