"""The event log's writer, its reader and its pruning (docs/api/events.md).

`record()` writes the `Event` row in the caller's transaction, the one that makes the change,
so the change and its history commit together or not at all (a crash between two transactions
would leave a change no one hears of), then publishes the event, with its id, once that
transaction commits. A reader pages with `after` = the last id it saw. If two events could
commit out of id order, a reader could move past one not yet visible and never see it; so on
PostgreSQL each write takes a transaction-level advisory lock before its row gets an id (SQLite
already has one writer at a time), and id order is commit order. The lock is held until the
caller commits: keep `record()` the last write of a state change's transaction.

Pruning keeps `EVENTS_KEEP_DAYS` days and at most `EVENTS_KEEP_MAX` events, and notes the last
id it deleted: a cursor older than that is refused (`CursorExpired`), never answered with a
history that silently misses what was pruned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from conductor_site.errors import DomainError
from conductor_site.live.events import (
    EVENTS_GROUP,
    AttemptChanged,
    RunChanged,
    TaskChanged,
)
from conductor_site.live.models import Event, EventPruning
from conductor_site.live.publish import publish
from conductor_site.locks import EVENTS, xact_lock

PRUNE_EVERY_SECONDS = 3_600.0
LoggedEvent = TaskChanged | AttemptChanged | RunChanged


class CursorExpired(DomainError):
    status_code = 410


def record(event: LoggedEvent, groups: list[str]) -> Event:
    """Keep the event in the log, then (once committed) send it to `groups` and `events`
    with its log id as `event_id`."""
    with transaction.atomic():
        xact_lock(EVENTS)
        row = Event.objects.create(
            project_id=event["project_id"],
            task_id=event["task_id"],
            attempt_id=str(event.get("attempt_id", "")),
            run_id=str(event.get("run_id", "")),
            type=event["type"],
            payload=event,
        )
    event["event_id"] = row.id
    items = [(group, event) for group in [*groups, EVENTS_GROUP]]
    transaction.on_commit(lambda: publish(items))
    return row


@dataclass(frozen=True)
class EventFilter:
    project_id: str | None = None
    task_id: str | None = None
    type: str | None = None


def events_after(after: int | None, filters: EventFilter) -> QuerySet[Event]:
    """The events after the cursor `after` (None: from the oldest kept), oldest first;
    CursorExpired when events after it were pruned."""
    pruned = pruned_through()
    if after is None:
        after = pruned
    elif after < pruned:
        raise CursorExpired(
            f"events after {after} were pruned (the log starts after {pruned}): start over "
            "from the current state, then read the events after the newest id you get",
            after=after,
            pruned_through=pruned,
        )
    return filtered(Event.objects.filter(id__gt=after), filters).order_by("id")


def filtered(events: QuerySet[Event], filters: EventFilter) -> QuerySet[Event]:
    if filters.project_id is not None:
        events = events.filter(project_id=filters.project_id)
    if filters.task_id is not None:
        events = events.filter(task_id=filters.task_id)
    if filters.type is not None:
        events = events.filter(type=filters.type)
    return events


def counts_by_type(events: QuerySet[Event]) -> dict[str, int]:
    rows = events.order_by().values("type").annotate(n=Count("id"))
    return {row["type"]: row["n"] for row in rows}


def newest_id() -> int:
    return Event.objects.aggregate(m=Max("id"))["m"] or 0


def pruned_through() -> int:
    return EventPruning.objects.values_list("through_id", flat=True).first() or 0


def event_to_api(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "time": event.at.isoformat().replace("+00:00", "Z"),
        "type": event.type,
        "project_id": event.project_id,
        "task_id": event.task_id or None,
        "attempt_id": event.attempt_id or None,
        "run_id": event.run_id or None,
        "payload": event.payload,
    }


def events_prune() -> int:
    """Delete what is past the retention; returns how many were deleted."""
    conf = settings.CONDUCTOR
    too_old = timezone.now() - timedelta(days=float(conf["EVENTS_KEEP_DAYS"]))
    newest = newest_id()
    by_age = Event.objects.filter(at__lt=too_old).aggregate(m=Max("id"))["m"] or 0
    through = max(by_age, newest - int(conf["EVENTS_KEEP_MAX"]))
    if through <= pruned_through():
        return 0
    with transaction.atomic():
        deleted, _ = Event.objects.filter(id__lte=through).delete()
        EventPruning.objects.update_or_create(
            id=1, defaults={"through_id": through, "pruned_at": timezone.now()}
        )
    return deleted


class _Schedule:
    """Prune at most once per `PRUNE_EVERY_SECONDS` per process (housekeeping asks often)."""

    next_at = 0.0


def events_prune_due() -> int:
    if time.monotonic() < _Schedule.next_at:
        return 0
    _Schedule.next_at = time.monotonic() + PRUNE_EVERY_SECONDS
    return events_prune()
