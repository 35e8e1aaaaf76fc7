"""The runs' WebSocket streams (`runs.routing`):

- `/ws/runs/<run_id>/logs/?after=<seq>:<line>`: a run's log, the feed of
  `GET /api/v1/runs/<r>/stream` a stored chunk per frame (`log` `{seq, stream, timestamp,
  text}` with the `cursor` of its last line, `status`, `done`);
- `/ws/runs/<run_id>/entries/?after=<index>`: its conversation (`entry` frames, `status`,
  `done`);
- `/ws/attempts/<attempt_id>/diff/?stats_only=0|1`: an attempt's diff, live
  (`runs.streams.attempt_diff`; frames: `snapshot`, `files`, `done`)."""

from __future__ import annotations

from conductor_site.ids import is_identifier
from conductor_site.live.consumers import FeedConsumer, Refused, cursor_of
from conductor_site.live.engine import Feed, db
from conductor_site.params import FALSE_WORDS, TRUE_WORDS
from runs.entries.feed import RunEntriesFeed
from runs.streams.attempt_diff import AttemptDiffFeed, attempt_ref
from runs.streams.run_log import LOG_CURSOR, RunLogChunkFeed
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
        return RunLogChunkFeed(run, (int(match[1]), int(match[2])) if match else None)


class AttemptDiffConsumer(FeedConsumer):
    async def feed(self, query: dict[str, str]) -> Feed:
        attempt_id = self.scope["url_route"]["kwargs"]["attempt_id"]
        stats_only = query.get("stats_only", "").strip().lower()
        if not is_identifier(attempt_id) or stats_only not in TRUE_WORDS | FALSE_WORDS:
            raise Refused(4400, "invalid attempt id or stats_only (expected 0 or 1)")
        attempt = await db(attempt_ref, attempt_id)
        if attempt is None:
            raise Refused(4404, f"attempt {attempt_id!r} not found")
        return AttemptDiffFeed(attempt, stats_only in TRUE_WORDS)


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
