"""A run's conversation rebuilt from its stored log, after a client's cursor.

Entries are not stored: the LogChunk rows are the truth, read in `seq` order a page at a time
through the run's normalizer, so a read costs time linear in the log and memory bounded by
the page. A client that saw entries up to index `after` is sent the entries after it, and
also every earlier entry that changed after entry `after` first appeared (a tool call it saw
pending that has since finished): it may have missed that update, and an upsert sent twice
is harmless. To go live, a WebSocket consumer reads `entries_of(run, after=i)` without a
`limit` and feeds the chunks after `page.last_seq` to `page.normalizer`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from runs.agents import UnknownAgent, agent_for
from runs.entries.formats import normalizer
from runs.entries.normalizer import Normalizer
from runs.entries.shapes import Entry, Upsert
from runs.models import LogChunk, Run

CHUNKS_PER_READ = 100


@dataclass
class EntryPage:
    entries: list[Upsert]  # by index
    has_more: bool  # entries past `limit` exist: ask again after `next_after`
    next_after: int
    last_seq: int  # the last LogChunk read
    normalizer: Normalizer


@dataclass
class _Window:
    """The entries a reader with cursor `after` is sent, at most `limit` new ones."""

    after: int
    limit: int | None
    new: dict[int, Entry] = field(default_factory=dict)
    changed: dict[int, Entry] = field(default_factory=dict)
    seen_after: bool = False
    has_more: bool = False

    def take(self, index: int, entry: Entry) -> None:
        if index > self.after:
            if self.limit is None or index <= self.after + self.limit:
                self.new[index] = entry
            else:
                self.has_more = True
        elif index == self.after and not self.seen_after:
            self.seen_after = True
        elif self.seen_after:
            self.changed[index] = entry

    def entries(self) -> list[Upsert]:
        return sorted({**self.changed, **self.new}.items())

    def next_after(self) -> int:
        return max(self.new, default=self.after)


def normalizer_for(run: Run) -> Normalizer:
    """The normalizer of the run's agent's format; raw for setup and cleanup scripts."""
    if run.kind != Run.Kind.AGENT:
        return normalizer("raw")
    try:
        agent = agent_for(run.attempt.agent)
    except UnknownAgent:  # the profile was deleted since: let the output tell
        return normalizer("auto")
    return normalizer(agent.entry_format)


def entries_of(run: Run, *, after: int = 0, limit: int | None = None) -> EntryPage:
    """The run's entries after index `after` (see the module's docstring), in index order."""
    feed = normalizer_for(run)
    window = _Window(after, limit)
    last_seq = 0
    for seq, stream, text in log_chunks(run.id):
        for index, entry in feed.feed(stream, text):
            window.take(index, entry)
        last_seq = seq
    return EntryPage(window.entries(), window.has_more, window.next_after(), last_seq, feed)


def log_chunks(run_id: str) -> Iterator[tuple[int, str, str]]:
    """`(seq, stream, text)` of the run's chunks in order, `CHUNKS_PER_READ` per query."""
    last = 0
    while True:
        rows = list(
            LogChunk.objects.filter(run_id=run_id, seq__gt=last)
            .order_by("seq")
            .values_list("seq", "stream", "text")[:CHUNKS_PER_READ]
        )
        yield from rows
        if len(rows) < CHUNKS_PER_READ:
            return
        last = rows[-1][0]
