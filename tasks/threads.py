"""The threaded-answer workflow and the task-bus messages Conductor posts itself.

A child task answering a `QUESTION` or `FACT` message gets, atomically with its creation: a
`TASK-THREAD-LINK.yaml` in its folder, a `USER_REQUEST` on its own bus carrying the parent's
ids in `meta`, and a backlink on the parent task's bus carrying the child's.
"""

from __future__ import annotations

from contextlib import suppress

import yaml

from messagebus.models import Message
from messagebus.selectors import BusNotFound
from messagebus.services import message_append
from projects import storage
from runs.models import Attempt, RunStatus
from tasks.models import Task

ANSWERABLE_TYPES = ("QUESTION", "FACT")
THREAD_FIELDS = ("project_id", "task_id", "run_id", "message_id")


class ThreadParentNotFound(Exception):
    pass


class ThreadParentWrongType(Exception):
    pass


def parent_message(ref: dict[str, str]) -> Message:
    parent_task = Task.objects.filter(project_id=ref["project_id"], task_id=ref["task_id"]).first()
    if parent_task is None:
        raise ThreadParentNotFound(
            f"thread parent task {ref['task_id']!r} not found in project {ref['project_id']!r}"
        )
    message = Message.objects.filter(msg_id=ref["message_id"], task=parent_task).first()
    if message is None:
        raise ThreadParentNotFound(
            f"thread parent message {ref['message_id']!r} not found on task {ref['task_id']!r}"
        )
    if message.type not in ANSWERABLE_TYPES:
        raise ThreadParentWrongType(
            f"thread parent message is {message.type!r}: only QUESTION and FACT can be answered"
        )
    return message


def link_child(child: Task, parent: Message, ref: dict[str, str]) -> None:
    Task.objects.filter(id=child.id).update(thread_parent=ref)
    child.thread_parent = ref
    link = storage.task_dir(child.project_id, child.task_id) / "TASK-THREAD-LINK.yaml"
    storage.file_write(link, yaml.safe_dump({"thread_parent": ref}))
    request = message_append(
        project_id=child.project_id,
        task_id=child.task_id,
        type="USER_REQUEST",
        body=child.prompt,
        parents=[parent.msg_id],
        meta={f"thread_parent_{field}": ref[field] for field in THREAD_FIELDS},
    )
    message_append(
        project_id=ref["project_id"],
        task_id=ref["task_id"],
        run_id=ref["run_id"],
        type="THREAD_CHILD",
        body=f"answered in task {child.task_id}",
        parents=[parent.msg_id],
        meta={
            "thread_child_project_id": child.project_id,
            "thread_child_task_id": child.task_id,
            "thread_child_message_id": request.msg_id,
        },
    )


def post_outcome(attempt: Attempt) -> None:
    """`task_complete` or `task_failed` on the task's bus when an attempt ends; nothing if
    the task was deleted once it ended (it can be, as soon as nothing of it runs)."""
    if attempt.status not in (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CRASHED):
        return
    run = attempt.runs.filter(kind="agent").order_by("-created_at").first()
    task = attempt.task
    kind = "task_complete" if attempt.status == RunStatus.SUCCESS else "task_failed"
    body = (
        "Task completed"
        if kind == "task_complete"
        else (f"Task failed: {attempt.error_summary or attempt.status}")
    )
    with suppress(BusNotFound):
        message_append(
            project_id=task.project_id,
            task_id=task.task_id,
            run_id=run.id if run else None,
            type=kind,
            body=body,
        )
