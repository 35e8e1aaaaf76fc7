"""A run's streams over a WebSocket: `/ws/runs/<run_id>/logs/?after=<seq>:<line>`, the same
feed as `GET /api/v1/runs/<r>/stream` (frames: `log` with its `cursor`, `status`, `done`), and
`/ws/runs/<run_id>/entries/?after=<index>`, its conversation (`entry` frames, `status`,
`done`)."""

from __future__ import annotations

from conductor_site.ids import is_identifier
from conductor_site.live.consumers import FeedConsumer, Refused, cursor_of
from conductor_site.live.engine import Feed, db
from runs.entries.feed import RunEntriesFeed
from runs.streams.run_log import LOG_CURSOR, RunLogFeed
from runs.streams.run_reads import run_ref


class RunLogConsumer(FeedConsumer):
    async def feed(self, query: dict[str, str]) -> Feed:
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        match = LOG_CURSOR.match(query.get("after", ""))
        if not is_identifier(run_id) or (query.get("after") and not match):
            raise Refused(4400, "invalid run id or cursor (expected <seq>:<line>)")
        run = await db(run_ref, run_id)
        if run is None:
            raise Refused(4404, f"run {run_id!r} not found")
        return RunLogFeed(run, (int(match[1]), int(match[2])) if match else None)


class RunEntriesConsumer(FeedConsumer):
    """`/ws/runs/<run_id>/entries/?after=<index>`: the run's conversation (runs.entries.feed)."""

    async def feed(self, query: dict[str, str]) -> Feed:
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        if not is_identifier(run_id):
            raise Refused(4400, "invalid run id")
        after = cursor_of(query, "an entry index") or 0
        run = await db(run_ref, run_id)
        if run is None:
            raise Refused(4404, f"run {run_id!r} not found")
        return RunEntriesFeed(run, after)
