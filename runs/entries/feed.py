"""`/ws/runs/<r>/entries/`'s feed: the run-log feed, each batch of lines normalized as it
arrives instead of sent as lines.

It is `RunLogFeed` (`runs.streams.run_log`) with one change: the replay first rebuilds the
conversation from the stored log (`runs.entries.replay.entries_of`, the REST route's read),
which leaves the run's normalizer fed up to the last chunk read; from then on the feed's
chunks, live or re-read on a gap, go through that same normalizer, one per connection, so
each entry's index is the one the REST route gives it. The run's `status` frames and its
`done` come from the log feed unchanged.

Cursor: an entry's index. A client that saw entries up to `after` is sent the entries after
it and those before it that changed since (the replay's rule), then every upsert live; an
upsert of an earlier entry (a tool call that finished) carries the same index again. Each
frame's `cursor` is the highest index sent so far: resuming after it repeats nothing new.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from conductor_site.live.engine import Batch, FeedEvent, db
from runs.entries.normalizer import Normalizer
from runs.entries.replay import EntryPage, entries_of
from runs.entries.shapes import Upsert
from runs.models import Run
from runs.streams.run_log import RunLogFeed
from runs.streams.run_reads import Chunk, RunRef


def rebuilt(run_id: str, after: int) -> EntryPage | None:
    """The run's entries after `after`, from its stored log; None if the run is gone."""
    run = Run.objects.select_related("attempt").filter(id=run_id).first()
    return entries_of(run, after=after) if run is not None else None


class RunEntriesFeed(RunLogFeed):
    """`entry` frames (`index`, `entry`, `cursor`), `status` frames, and `done` once ended."""

    def __init__(self, run: RunRef, after: int) -> None:
        super().__init__(run, None)
        self.sent = after
        self.normalizer: Normalizer | None = None

    async def replay(self) -> AsyncIterator[Batch]:
        page = await db(rebuilt, self.log.run_id, self.sent)
        if page is None:  # deleted meanwhile: the log feed says `done`
            self.normalizer = Normalizer()
        else:
            self.normalizer, self.log.last_seq = page.normalizer, page.last_seq
            if page.entries:
                yield self._entries(page.entries)
        async for batch in super().replay():
            yield batch

    def _lines(self, chunks: list[Chunk]) -> Batch:
        assert self.normalizer is not None  # the replay set it
        upserts = [u for c in chunks for u in self.normalizer.feed(c.stream, c.text)]
        return self._entries(upserts)

    def _entries(self, upserts: list[Upsert]) -> Batch:
        batch: Batch = []
        for index, entry in upserts:
            self.sent = max(self.sent, index)
            data = {"type": "entry", "index": index, "entry": entry}
            batch.append(FeedEvent(data, id=str(self.sent)))
        return batch
