"""Every live event's payload, typed, and every channel-layer group's name.

A payload's `type` is also its Channels handler (`run.changed` → `run_changed`), so a
consumer has one method per event type (the paperless `StatusConsumer` shape). Producers
build these dicts and hand them to `conductor_site.live.publish.publish`; subscribers match on
`type`, which narrows the union for mypy. The channel layer only carries what was published
through that seam, so a received message is one of `LiveEvent`.

Groups:
- `run.<run_id>`: a run's own log chunks and status changes;
- `runs`: every run's changes (`/api/v1/runs/stream/all`, the task fan-in);
- `bus.<project>` and `bus.<project>.<task>`: the message buses;
- `project.<project>`: a project's board — its tasks', attempts' and runs' changes;
- `attempt.<attempt_id>`: an attempt's changes and its diff;
- `events`: every change recorded in the event log (`conductor_site.live.history`).
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal, TypedDict

GROUP_NAME_LIMIT = 100  # Channels refuses group names of 100 characters or more
ALL_RUNS_GROUP = "runs"
EVENTS_GROUP = "events"

RunChange = Literal["created", "started", "updated", "dropped"]
# `question_asked` / `question_answered`: a QUESTION on its bus, or its answer
# (`messagebus.services.questions_changed`): whether its card "needs input" may have changed.
TaskChange = Literal[
    "created", "updated", "moved", "deleted", "question_asked", "question_answered"
]
# `worktree_archived`: its worktree was removed, its branch kept (`runs.workspace`);
# `worktree_restored`: made again from its branch for a follow-up.
AttemptChange = Literal[
    "created",
    "started",
    "updated",
    "worktree_archived",
    "worktree_restored",
    "retried",
    "file_deleted",
    "draft_sent",
]


class Recorded(TypedDict, total=False):
    """The events the event log keeps carry their id there once recorded (`total=False`,
    not `NotRequired`: postponed annotations hide that from `__required_keys__`)."""

    event_id: int


class RunChanged(Recorded):
    """A run's row changed: `created`, `started`, or `updated` (any later status change)."""

    type: Literal["run.changed"]
    change: RunChange
    run_id: str
    attempt_id: str
    project_id: str
    task_id: str
    kind: str
    status: str
    exit_code: int | None


class LogChunk(TypedDict):
    """One stored LogChunk row: whole lines of one stream, `seq` contiguous per run."""

    type: Literal["log.chunk"]
    run_id: str
    seq: int
    stream: str
    text: str
    lines: int
    timestamp: str  # ISO 8601 with `+00:00`


class BusMessage(TypedDict):
    """A message appended to a bus; `message` is the list item (`message_to_api`)."""

    type: Literal["bus.message"]
    msg_id: str
    project_id: str
    task_id: str | None
    message: dict[str, Any]
    after: str | None  # the msg_id before it on this group's bus (messagebus.services)


class TaskChanged(Recorded):
    """A task was created, edited, moved to another board column, or deleted; or an agent
    asked a question on its bus, or one was answered."""

    type: Literal["task.changed"]
    change: TaskChange
    project_id: str
    task_id: str
    column: str


class AttemptChanged(Recorded):
    """An attempt's status changed, or its worktree was archived or restored."""

    type: Literal["attempt.changed"]
    change: AttemptChange
    attempt_id: str
    project_id: str
    task_id: str
    status: str
    error_summary: str


class DiffChanged(TypedDict):
    """Files of an attempt's worktree changed while its agent run `run_id` ran
    (`runs.diffwatch`): every entry at or under one of `paths` is replaced by `files`
    (`runs.diffs.DiffFile` dicts; none for a path whose change was undone). `seq` counts the
    run's changes from 1, so a subscriber sees a lost one. `overflow`: too many paths
    changed at once to list; `files` is empty, the whole diff must be read again."""

    type: Literal["diff.changed"]
    attempt_id: str
    project_id: str
    task_id: str
    run_id: str
    seq: int
    paths: list[str]
    files: list[dict[str, Any]]
    head_commit: str
    base_commit: str
    overflow: bool


class DiffStored(TypedDict):
    """A diff snapshot of the attempt was stored (after one of its runs): re-read it."""

    type: Literal["diff.stored"]
    attempt_id: str
    run_id: str | None
    snapshot_id: int


LiveEvent = (
    RunChanged | LogChunk | BusMessage | TaskChanged | AttemptChanged | DiffChanged | DiffStored
)
# The event types the event log keeps (not `log.chunk`, `bus.message`: those have their rows).
RECORDED_TYPES = ("task.changed", "attempt.changed", "run.changed")


def run_group(run_id: str) -> str:
    return _bounded(f"run.{run_id}")


def bus_group(project_id: str, task_id: str | None = None) -> str:
    """`bus.<project_id>` (every message of the project) or `bus.<project_id>.<task_id>`."""
    return _bounded(f"bus.{project_id}" if task_id is None else f"bus.{project_id}.{task_id}")


def project_group(project_id: str) -> str:
    return _bounded(f"project.{project_id}")


def attempt_group(attempt_id: str) -> str:
    return _bounded(f"attempt.{attempt_id}")


def _bounded(name: str) -> str:
    """Ids may be 128 characters, Channels' group names fewer than 100: a longer name is
    hashed into `<kind>..<hex>`, which no id can spell (ids never contain a dot)."""
    if len(name) < GROUP_NAME_LIMIT:
        return name
    kind = name.split(".", 1)[0]
    return f"{kind}..{hashlib.sha256(name.encode()).hexdigest()}"


ENVELOPE: Literal["live.events"] = "live.events"


class Envelope(TypedDict):
    """The layer message that carries several events of one publish to one group
    (`conductor_site.live.publish.envelopes`); subscribers get its events, never it."""

    type: Literal["live.events"]
    events: list[LiveEvent]
