"""`/ws/projects/<p>/board/`'s feed: the project's recorded events, and its queue positions.

The events (task created / updated / moved / deleted, attempt and run changes) are the event
log filtered to the project (`conductor_site.live.event_feed`), so the board resumes from an
event id like `GET /api/v1/events`. Queue positions are not events: the queue is shared by
every project, so any run's change anywhere can move this project's tasks. The feed also
listens to every run's changes and, on each (and on a resync), reads the positions again and
sends a `queue` frame when they differ from the last one sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from conductor_site.live.engine import Batch, FeedEvent, db
from conductor_site.live.event_feed import EventLogFeed
from conductor_site.live.events import ALL_RUNS_GROUP, LiveEvent, project_group
from conductor_site.live.history import EventFilter
from tasks.planner import queue_positions

MOVERS = ("run.changed", "attempt.changed", "task.changed")


class BoardFeed(EventLogFeed):
    def __init__(self, project_id: str, after: int | None) -> None:
        groups = [project_group(project_id), ALL_RUNS_GROUP]
        super().__init__(groups, EventFilter(project_id=project_id), after)
        self.project_id = project_id
        self.positions: dict[str, int] | None = None

    async def replay(self) -> AsyncIterator[Batch]:
        async for batch in super().replay():
            yield batch
        yield await self._queue()

    async def resync(self) -> AsyncIterator[Batch]:
        async for batch in super().resync():
            yield batch
        yield await self._queue()

    async def live(self, messages: list[LiveEvent], lost: bool) -> AsyncIterator[Batch]:
        async for batch in super().live(messages, lost):
            yield batch
        if lost or any(message["type"] in MOVERS for message in messages):
            yield await self._queue()

    async def _queue(self) -> Batch:
        """A `queue` frame if the positions changed since the last one (the first: always)."""
        positions = await db(queue_positions, self.project_id)
        if positions == self.positions:
            return []
        self.positions = positions
        return [FeedEvent({"type": "queue", "positions": positions})]
