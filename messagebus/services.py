"""Appending to the message bus: the one writer of `Message` rows.

A reader polls with `after` = the last msg_id it saw and gets the messages whose pk is above
it. If two appends could commit out of pk order, a reader could see the later one, move its
cursor past the earlier one and never see it. So every append holds the bus lock from before
its row gets a pk until it commits: on PostgreSQL a transaction-level advisory lock, on SQLite
the database's write lock (`BEGIN IMMEDIATE`, see settings, or the INSERT itself). Pk order is
then commit order. The msg_id puts the pk behind a timestamp that never goes backwards (hosts'
clocks differ, and a clock can step back), so msg_id order is pk order too, in every process.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.db import connection, transaction

from conductor_site.live.events import BusMessage, TaskChange, bus_group
from conductor_site.live.publish import publish
from conductor_site.locks import BUS, EVENTS, xact_lock
from messagebus import sql
from messagebus.models import QUESTION, Message
from messagebus.selectors import bus_task, message_to_api
from projects.creation import project_ensure
from runs.models import Run
from tasks.events import task_changed
from tasks.models import OpenQuestion, Task

SEQ_DIGITS = 12
TYPE_MAX_LENGTH = 64
Before = dict[str, str | None]  # a group's newest msg_id before an append (None: empty)


class MessageInvalid(ValueError):
    """A bad type, body or meta, or a parent or run that is not part of the project."""


def message_append(
    *,
    project_id: str,
    task_id: str | None = None,
    run_id: str | None = None,
    type: str = "USER",
    body: str = "",
    parents: list[str] | None = None,
    meta: dict[str, str] | None = None,
    make_bus: bool = False,
) -> Message:
    """Append to the task's bus (or the project's), then ring `bus_group` once committed.

    With `make_bus` (a client's post), an unknown project or task gets its bus, as Conductor
    Loop makes a bus folder: the project without a repository (as `POST /api/v1/tasks` does),
    the task as a bus-only row that a later `POST /api/v1/tasks` fills in (`Task.is_bus_only`);
    without it (Conductor's own messages) an unknown one is BusNotFound. MessageInvalid:
    everything a caller got wrong. Within an outer transaction the bus lock is held (and the
    doorbell waits) until it commits.
    """
    if not isinstance(body, str):
        raise MessageInvalid("body must be a string")
    type = _checked_type(type)
    with transaction.atomic():
        append_lock(asks_or_answers=type == QUESTION or bool(parents))
        task = bus_made(project_id, task_id) if make_bus else bus_task(project_id, task_id)
        fields = {
            "project_id": project_id,
            "task": task,
            "run_id": _checked_run(project_id, task, run_id),
            "type": type,
            "body": body,
            "parents": _checked_parents(project_id, parents or []),
            "meta": meta_strings(meta or {}),
        }
        (message,), before = messages_insert([fields])
        transaction.on_commit(partial(publish, bus_events([message], before)))
    return message


def bus_made(project_id: str, task_id: str | None) -> Task | None:
    """The bus a client posts to, made when it does not exist yet (see `message_append`).
    A bus that exists (the common case) costs one indexed read (`buses_found`)."""
    found = buses_found([(project_id, task_id)])
    if (project_id, task_id) in found:
        return found[(project_id, task_id)]
    project = project_ensure(project_id=project_id)
    if task_id is None:
        return None
    task, _ = Task.objects.get_or_create(
        project=project, task_id=task_id, defaults={"prompt": "", "agent_type": ""}
    )
    return task


BusKey = tuple[str, str | None]  # (project_id, task_id): None is the project's own bus


def buses_found(keys: Iterable[BusKey]) -> dict[BusKey, Task | None]:
    """Those of the buses named that exist, each with its task (None: a project's bus), in
    one statement for the projects' buses and one for the tasks', however many are named:
    a batch of appends (`messagebus.writer`) to four tasks' buses was four round trips to
    PostgreSQL. A task comes with only its keys loaded (`Task.from_db`: any other field is
    read when first used)."""
    named = set(keys)
    projects = sql.projects_existing(sorted({p for p, t in named if t is None}))
    tasks = sql.task_pks(sorted((p, t) for p, t in named if t is not None))
    found: dict[BusKey, Task | None] = {(project_id, None): None for project_id in projects}
    fields = ["id", "project_id", "task_id"]
    for (project_id, task_id), pk in tasks.items():
        found[project_id, task_id] = Task.from_db(
            connection.alias, fields, [pk, project_id, task_id]
        )
    return found


def bus_events(
    messages: list[Message], before: Before | None = None
) -> list[tuple[str, BusMessage]]:
    """The doorbells of appended messages, in pk order: `type` is the Channels handler
    (`bus.message`); the message's own type is in `message`, the full list item. `after` is
    the msg_id before it on that group's bus (None: the first), so a stream that sent that
    one can send this one as it is, without reading the database (messagebus.streams).
    `before`: each group's newest msg_id before these messages, as `messages_insert` read
    it under the bus lock; a group it does not name is read here."""
    last: dict[str, str | None] = dict(before or {})
    events: list[tuple[str, BusMessage]] = []
    for message in messages:
        item = message_to_api(message)
        for group, bus in _buses(message):
            if group not in last:
                last[group] = (
                    Message.objects.filter(id__lt=message.pk, **bus)
                    .order_by("-id")
                    .values_list("msg_id", flat=True)
                    .first()
                )
            event: BusMessage = {
                "type": "bus.message",
                "msg_id": message.msg_id,
                "project_id": message.project_id,
                "task_id": item["task_id"],
                "message": item,
                "after": last[group],
            }
            events.append((group, event))
            last[group] = message.msg_id
    return events


def _buses(message: Message) -> list[tuple[str, dict[str, Any]]]:
    """The groups a message rings, each with the filter of its bus."""
    buses: list[tuple[str, dict[str, Any]]] = [
        (bus_group(message.project_id), {"project_id": message.project_id})
    ]
    if message.task is not None:
        group = bus_group(message.project_id, message.task.task_id)
        buses.append((group, {"project_id": message.project_id, "task_id": message.task.pk}))
    return buses


def meta_strings(meta: Any) -> dict[str, str]:
    """Meta is a string map: numbers and booleans become their JSON text, null "", objects
    and lists compact JSON."""
    if not isinstance(meta, dict):
        raise MessageInvalid("meta must be an object")
    return {str(key): _meta_value(value) for key, value in meta.items()}


def _meta_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _checked_type(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= TYPE_MAX_LENGTH:
        raise MessageInvalid(f"type must be a string of 1-{TYPE_MAX_LENGTH} characters")
    return value


def _checked_parents(project_id: str, parents: Any) -> list[str]:
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise MessageInvalid("parents must be a list of message ids")
    if not parents:
        return []
    found = set(
        Message.objects.filter(project_id=project_id, msg_id__in=parents).values_list(
            "msg_id", flat=True
        )
    )
    missing = [parent for parent in parents if parent not in found]
    if missing:
        raise MessageInvalid(
            f"parent message(s) not found in project {project_id!r}: {', '.join(missing)}"
        )
    return list(parents)


def _checked_run(project_id: str, task: Task | None, run_id: str | None) -> str | None:
    """A run named on a message belongs to its project, and to its task on a task bus."""
    if run_id is None:
        return None
    run = Run.objects.select_related("attempt__task").filter(id=run_id).first()
    if run is None:
        raise MessageInvalid(f"run {run_id!r} not found")
    run_task = run.attempt.task
    if run_task.project_id != project_id or (task is not None and run_task.pk != task.pk):
        where = f"task {task.task_id!r}" if task is not None else f"project {project_id!r}"
        raise MessageInvalid(f"run {run_id!r} does not belong to {where}")
    return run_id


def messages_insert(rows: list[dict[str, Any]]) -> tuple[list[Message], Before]:
    """Inside the append's transaction, which holds `append_lock`: insert the rows (their
    pks), then name them; with each bus's newest msg_id before them (for `bus_events`), read
    under the same lock.

    One read (the last time, each bus's newest msg_id), one INSERT and one UPDATE,
    whatever the number of rows: a batch of appends (messagebus.writer) costs about what
    one append does. The rows share one time, so the UPDATE writes each msg_id as that
    time's prefix and its own pk.
    The statements are SQL (`messagebus.sql`): the ORM building them was most of an append.
    A row that asks or answers a question changes its task's board card: that is recorded
    first (`questions_changed`), then the open questions are noted (`questions_note`).
    """
    questions_changed(rows)
    groups = _groups_of(rows)
    previous, newest = sql.newest(list(groups.values()))
    before = dict(zip(groups, newest, strict=True))
    now = datetime.now(UTC)
    at = max(now, previous) if previous else now
    pending = f"pending-{uuid.uuid4().hex}-"
    pks = sql.rows_insert([_row_values(f"{pending}{n}", row) for n, row in enumerate(rows)], at)
    prefix = format_msg_id(at, 0)[:-SEQ_DIGITS]
    sql.msg_ids_set(pks, prefix, SEQ_DIGITS)
    messages = [
        Message(id=pk, msg_id=f"{prefix}{pk:0{SEQ_DIGITS}d}", created_at=at, **row)
        for pk, row in zip(pks, rows, strict=True)
    ]
    questions_note(messages)
    return messages, before


def _groups_of(rows: list[dict[str, Any]]) -> dict[str, tuple[str, int | None]]:
    """The groups the rows ring, each with its bus as `sql.newest` names it."""
    groups: dict[str, tuple[str, int | None]] = {}
    for row in rows:
        project_id, task = row["project_id"], row.get("task")
        groups[bus_group(project_id)] = (project_id, None)
        if task is not None:
            groups[bus_group(project_id, task.task_id)] = (project_id, task.pk)
    return groups


def _row_values(placeholder: str, row: dict[str, Any]) -> tuple[Any, ...]:
    """`row` (Message's fields) as the values of `sql.INSERTED`'s columns."""
    task = row.get("task")
    return (
        placeholder,
        row["project_id"],
        task.pk if task is not None else None,
        row.get("run_id"),
        row.get("type", "USER"),
        row.get("body", ""),
        sql.json_value(row.get("parents", [])),
        sql.json_value(row.get("meta", {})),
    )


def questions_changed(rows: list[dict[str, Any]]) -> None:
    """Record `task.changed` for each task the rows ask a question of (a `QUESTION` on its
    bus) or answer one of (a row whose `parents` name an open question), so the board reads
    its card, and its "needs input" badge, again (`tasks.board_feed`). Nothing for other rows.
    Done before the bus lock is taken: where a transaction holds both, the event log's comes
    first (a task made to answer a question, `tasks.services.task_submit`), and one order
    everywhere keeps two appends from deadlocking on PostgreSQL's advisory locks."""
    changed: dict[tuple[int, TaskChange], Task] = {}
    for row in rows:
        if row.get("type") == QUESTION and row.get("task") is not None:
            changed.setdefault((row["task"].pk, "question_asked"), row["task"])
    named = [parent for row in rows for parent in row.get("parents", [])]
    if named:
        for question in open_questions_named(named):
            if question.task is not None:  # a project-bus question asks no task
                changed.setdefault((question.task.pk, "question_answered"), question.task)
    for (_, change), task in changed.items():
        task_changed(task, change)


def open_questions_named(msg_ids: list[str]) -> list[OpenQuestion]:
    """The open questions among `msg_ids`, with their tasks."""
    return list(OpenQuestion.objects.filter(message__msg_id__in=msg_ids).select_related("task"))


def questions_note(messages: list[Message]) -> None:
    """A QUESTION, on a task's bus or the project's, is open (`OpenQuestion`) until a message
    names it in its `parents` (a reply, or the backlink of a task made to answer it,
    `tasks.threads`)."""
    asked = [m for m in messages if m.type == QUESTION]
    if asked:
        OpenQuestion.objects.bulk_create(OpenQuestion(message=m, task=m.task) for m in asked)
    named = [parent for message in messages for parent in message.parents]
    if named:
        OpenQuestion.objects.filter(message__msg_id__in=named).delete()


def format_msg_id(at: datetime, pk: int) -> str:
    """`MSG-YYYYMMDD-HHMMSS-<9-digit ns>-<seq>`: the time of the append (microseconds, as
    stored), then the zero-padded pk, so text order is append order."""
    at = at.astimezone(UTC)
    return f"MSG-{at:%Y%m%d-%H%M%S}-{at.microsecond * 1000:09d}-{pk:0{SEQ_DIGITS}d}"


def append_lock(*, asks_or_answers: bool) -> None:
    """The bus's lock (`conductor_site.locks`), taken by every append before it looks up its
    bus: appends go one at a time, and none during a delete of a project or task, which
    holds it (`delete_lock`), so a bus deleted meanwhile is found gone (BusNotFound, or made
    again by a client's post), never used and failed at the commit's foreign key check.
    An append that asks or answers a question records its task's change in the event log
    (`questions_changed`): that log's lock comes first, as everywhere, or two transactions
    taking both in opposite orders deadlock on PostgreSQL."""
    if asks_or_answers:
        xact_lock(EVENTS)
    xact_lock(BUS)
