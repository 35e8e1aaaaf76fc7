"""The event log as a feed: `/ws/events/` and, filtered to one project, the board.

The doorbell carries the event with its log id, but the ids a filtered reader sees are not
contiguous, so a live event cannot prove that none is missing before it: every doorbell (and
every resync) re-reads the log after the last id sent. Ids are in commit order
(`conductor_site.live.history`), so nothing can commit behind that cursor. A reader that
starts without a cursor starts at the newest event (it read the state it shows first, the
Zulip order: subscribe, then read, then apply what arrives); a cursor older than the pruned
history raises `CursorExpired` (the consumer closes 4410: start over).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from conductor_site.live.engine import Batch, FeedEvent, db
from conductor_site.live.events import RECORDED_TYPES, LiveEvent
from conductor_site.live.history import (
    EventFilter,
    event_to_api,
    events_after,
    filtered,
    newest_id,
)
from conductor_site.live.models import Event
from conductor_site.live.subscription import Subscription

PAGE = 500  # events per database read


def _first_page(after: int, filters: EventFilter) -> list[dict[str, Any]]:
    """The client's cursor is checked against the pruning once, here: later reads follow
    from what this feed sent, which pruning may pass while nothing matches the filters."""
    return [event_to_api(event) for event in events_after(after, filters)[:PAGE]]


def _page(after: int, filters: EventFilter) -> list[dict[str, Any]]:
    events = filtered(Event.objects.filter(id__gt=after), filters).order_by("id")
    return [event_to_api(event) for event in events[:PAGE]]


class EventLogFeed:
    """Each recorded event as its `GET /api/v1/events` item (its `type` the event's), the
    cursor its id; after the replay one `ready` frame with the cursor reached, so a client
    that asked for no history still learns where to resume from."""

    def __init__(self, groups: list[str], filters: EventFilter, after: int | None) -> None:
        self.groups = groups
        self.finished = False
        self.subscription: Subscription | None = None
        self.filters = filters
        self.after = after
        self.last = 0

    async def replay(self) -> AsyncIterator[Batch]:
        if self.after is None:
            self.last = await db(newest_id)
        else:
            items = await db(_first_page, self.after, self.filters)  # or CursorExpired
            self.last = items[-1]["id"] if items else self.after
            if items:
                yield self._events(items)
            if len(items) == PAGE:
                async for batch in self._catch_up():
                    yield batch
        yield [FeedEvent({"type": "ready"}, id=str(self.last))]

    def resync(self) -> AsyncIterator[Batch]:
        return self._catch_up()

    async def live(self, messages: list[LiveEvent], lost: bool) -> AsyncIterator[Batch]:
        if lost or any(self._rings(message) for message in messages):
            async for batch in self._catch_up():
                yield batch

    def _rings(self, message: LiveEvent) -> bool:
        """A recorded event not read yet (one heard on two groups is read once) that may
        match: another project's (the board hears every run's) is not read for."""
        if message["type"] not in RECORDED_TYPES:
            return False
        project = self.filters.project_id
        if project is not None and message.get("project_id") != project:
            return False
        event_id = message.get("event_id")
        return not isinstance(event_id, int) or event_id > self.last

    async def _catch_up(self) -> AsyncIterator[Batch]:
        while True:
            items = await db(_page, self.last, self.filters)
            if items:
                self.last = items[-1]["id"]
                yield self._events(items)
            if len(items) < PAGE:
                return

    @staticmethod
    def _events(items: list[dict[str, Any]]) -> Batch:
        return [FeedEvent(item, id=str(item["id"])) for item in items]
