"""`GET /api/v1/runs/stream/all`: every run's transitions (created, started, ended); a first
connect (no cursor) opens with the state of every active run."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from conductor_site.errors import error_json
from conductor_site.live.engine import Batch, FeedEvent, db
from conductor_site.live.events import ALL_RUNS_GROUP, LiveEvent
from conductor_site.live.sse import (
    cursor_param,
    keepalive_seconds,
    refused,
    sse_response,
)
from conductor_site.live.subscription import Subscription
from runs.models import ACTIVE_STATUSES, TERMINAL_STATUSES, Run
from runs.selectors import api_exit_code, document_status, rfc3339, ui_status
from runs.streams.run_reads import RunRef, ref_of

ALL_RUNS_REPLAY_MAX = 1_000  # runs replayed after a cursor
SENT_RUNS_MAX = 10_000
CONNECT_SLACK = timedelta(seconds=5)  # without a cursor the stream starts this far back


@dataclass(frozen=True)
class Transition:
    event: str  # run_created | run_started | run_updated
    run: RunRef
    status: str
    exit_code: int | None
    at: str  # the event's id: when it happened (replay) or arrived (live)


def _steps(run: Run) -> list[tuple[datetime, Transition]]:
    ref = ref_of(run)
    steps: list[tuple[datetime | None, str, str, int | None]] = [
        (run.created_at, "run_created", "created", None),
        (run.started_at, "run_started", "running", None),
    ]
    if run.status in TERMINAL_STATUSES:
        steps.append((run.ended_at, "run_updated", run.status, run.exit_code))
    return [
        (at, Transition(event, ref, status, code, rfc3339(at) or ""))
        for at, event, status, code in steps
        if at is not None
    ]


def _transitions(since: datetime, run_ids: list[str] | None = None) -> list[Transition]:
    """What happened after `since`, oldest first, from the rows' timestamps: to the runs
    `run_ids`, else to any run (the `ALL_RUNS_REPLAY_MAX` most recent)."""
    runs = Run.objects.select_related("attempt__task")
    if run_ids is not None:
        runs = runs.filter(id__in=run_ids)
    else:
        changed = Q(created_at__gt=since) | Q(started_at__gt=since) | Q(ended_at__gt=since)
        runs = runs.filter(changed).order_by("-created_at")[:ALL_RUNS_REPLAY_MAX]
    found = [step for run in runs for step in _steps(run) if step[0] > since]
    return [transition for _, transition in sorted(found, key=lambda step: step[0])]


def _current_state(since: datetime) -> list[Transition]:
    """Every active run's latest transition from before `since` (its creation, or its start),
    oldest first: a client that connects without a cursor learns what is going on now, as
    the first events, then what happens next (the `ALL_RUNS_REPLAY_MAX` most recent)."""
    active = Run.objects.select_related("attempt__task").filter(status__in=ACTIVE_STATUSES)
    latest = [_steps(run)[-1] for run in active.order_by("-created_at")[:ALL_RUNS_REPLAY_MAX]]
    return [transition for at, transition in sorted(latest, key=lambda s: s[0]) if at <= since]


class AllRunsFeed:
    """The document's unnamed events in its status words, plus named `status` (in the UI's
    words) and `log` events for the UI. Each is a run's transition read from its row (a
    doorbell names the run); the id is its time."""

    def __init__(self, since: datetime, *, current: bool = False) -> None:
        self.groups = [ALL_RUNS_GROUP]
        self.finished = False
        self.subscription: Subscription | None = None
        self.since = since
        self.current = current  # open with the active runs' state (no cursor: a first connect)
        self.sent: OrderedDict[str, set[str]] = OrderedDict()

    async def replay(self) -> AsyncIterator[Batch]:
        now = await db(_current_state, self.since) if self.current else []
        yield [event for t in now if self._first(t) for event in self._events(t)]
        yield await self._unsent(self.since)

    async def resync(self) -> AsyncIterator[Batch]:
        """Only the last minutes: older doorbells were checked by earlier resyncs."""
        window = timedelta(seconds=max(60.0, 4 * keepalive_seconds()))
        yield await self._unsent(max(self.since, timezone.now() - window))

    async def live(self, messages: list[LiveEvent], lost: bool) -> AsyncIterator[Batch]:
        rung = {m["run_id"] for m in messages if m["type"] == "run.changed"}
        if lost:
            async for batch in self.resync():
                yield batch
        elif rung:
            yield await self._unsent(self.since, sorted(rung))

    async def _unsent(self, since: datetime, run_ids: list[str] | None = None) -> Batch:
        transitions = await db(_transitions, since, run_ids)
        return [event for t in transitions if self._first(t) for event in self._events(t)]

    def _first(self, t: Transition) -> bool:
        """True once per (run, event, status): replay, resync and live may all see it."""
        seen = self.sent.setdefault(t.run.id, set())
        self.sent.move_to_end(t.run.id)
        key = f"{t.event}:{t.status}"
        if key in seen:
            return False
        seen.add(key)
        while len(self.sent) > SENT_RUNS_MAX:
            self.sent.popitem(last=False)
        return True

    @staticmethod
    def _events(t: Transition) -> Batch:
        ids = {"run_id": t.run.id, "project_id": t.run.project_id, "task_id": t.run.task_id}
        document: dict[str, Any] = {"type": t.event, **ids, "status": document_status(t.status)}
        if t.status in TERMINAL_STATUSES:
            document["exit_code"] = api_exit_code(t.exit_code)
        document["kind"] = t.run.kind
        status = {
            "type": "run_updated",
            **ids,
            "status": ui_status(t.status),
            "exit_code": api_exit_code(t.exit_code),
        }
        events = [FeedEvent(document, id=t.at), FeedEvent(status, name="status", id=t.at)]
        if t.event == "run_started":
            events.append(FeedEvent(ids, name="log", id=t.at))
        return events


@csrf_exempt  # GET only: anything else is a 405 from the view
async def all_runs_stream(request: HttpRequest) -> HttpResponseBase:
    if refusal := refused(request):
        return refusal
    cursor = cursor_param(request, "after")
    since = cursor_time(cursor) if cursor else timezone.now() - CONNECT_SLACK
    if since is None:
        return error_json(400, f"invalid cursor {cursor!r}: expected an RFC 3339 time")
    return sse_response(AllRunsFeed(since, current=cursor is None))


def cursor_time(cursor: str) -> datetime | None:
    """The cursor as a UTC time; None unless it is a real RFC 3339 time with its zone (not
    `2026-13-45`, not a `+99:00` offset, not a time that leaves the calendar in UTC)."""
    try:
        since = parse_datetime(cursor)
        return since.astimezone(UTC) if since is not None and since.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None
