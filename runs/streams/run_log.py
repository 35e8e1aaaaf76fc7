"""`GET /api/v1/runs/<r>/stream`: one run's log, then its status, then `done`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from functools import partial

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from conductor_site.errors import error_json
from conductor_site.live.engine import Batch, FeedEvent, SharedBatches, db
from conductor_site.live.events import LiveEvent, run_group
from conductor_site.live.sse import cursor_param, refused, sse_response
from conductor_site.live.subscription import Subscription
from runs.selectors import document_status
from runs.streams.run_reads import PAGE, Chunk, RunLog, RunRef, run_changed, run_ref

LOG_CURSOR = re.compile(r"^(\d{1,18}):(\d{1,18})\Z")
# The log lines of the latest chunks as events, shared by every viewer in this process.
SHARED_CHUNK_BYTES = 4 * 1024 * 1024
_shared = SharedBatches(SHARED_CHUNK_BYTES)


class RunLogFeed:
    """Unnamed `log` events (id `<seq>:<line>`), `status` events in the document's words
    (after the replay, as its example orders them, then on each change), and `done` once ended."""

    def __init__(self, run: RunRef, cursor: tuple[int, int] | None) -> None:
        self.groups = [run_group(run.id)]
        self.finished = False
        self.subscription: Subscription | None = None
        self.log = RunLog(run.id, cursor)
        self.sent_status = ""

    def replay(self) -> AsyncIterator[Batch]:
        return self._catch_up()

    def resync(self) -> AsyncIterator[Batch]:
        return self._catch_up()

    async def live(self, messages: list[LiveEvent], lost: bool) -> AsyncIterator[Batch]:
        chunks, gap = ([], True) if lost or run_changed(messages) else self.log.take(messages)
        if chunks:
            yield self._lines(chunks)
        if gap:
            async for batch in self._catch_up():
                yield batch

    async def _catch_up(self) -> AsyncIterator[Batch]:
        while True:
            state, chunks = await self.log.read()
            if chunks:
                yield self._lines(chunks)
            if len(chunks) < PAGE:
                break
        if state is None:  # the run was deleted
            self.finished = True
            yield [FeedEvent({"type": "done"})]
            return
        ending: Batch = []
        if (word := document_status(state.status)) != self.sent_status:
            self.sent_status = word
            status: dict[str, object] = {"type": "status", "status": word}
            if state.ended:
                status["exit_code"] = state.api_exit_code
            ending.append(FeedEvent(status))
        if state.ended:
            self.finished = True
            ending.append(FeedEvent({"type": "done"}))
        yield ending

    def _lines(self, chunks: list[Chunk]) -> Batch:
        """The chunks' lines the client has not seen, as events every viewer shares."""
        batch: Batch = []
        for c in chunks:
            key = (self.log.run_id, c.seq, c.stream, c.timestamp)
            events = _shared.get(key, len(c.text), partial(chunk_lines, c))
            batch += events[self.log.first_unseen(c) :]
        return batch


class RunLogChunkFeed(RunLogFeed):
    """The same log as stored chunks, not lines, per event (`/ws/runs/<r>/logs/`): `log`
    events `{seq, stream, timestamp, text}` whose id names the last line sent, so a cursor is
    the same `<seq>:<line>` either way. Consecutive chunks of one stream that reach the
    viewer together (a burst, a viewer behind, the replay) are one event, up to
    `FRAME_TEXT_BYTES`, its `seq` and `timestamp` the last chunk's. Why: a frame costs the
    server ~15 µs per viewer in Channels, Daphne and autobahn whatever it holds, and a
    quiet agent's lines are stored one by one; a frame per line was the whole cost of 200
    viewers (docs/benchmarks.md, "Live log delivery")."""

    def _lines(self, chunks: list[Chunk]) -> Batch:
        batch: Batch = []
        for group in frame_groups(chunks):
            first = self.log.first_unseen(group[0])
            if first == 0:  # the same for every viewer that gets these chunks together
                size, last = sum(len(c.text) for c in group), group[-1]
                key = ("chunks", self.log.run_id, group[0].seq, last.seq, last.timestamp, size)
                batch += _shared.get(key, size, partial(chunks_text, group, 0))
            else:  # a cursor inside the first chunk: the rest, for this viewer alone
                batch += chunks_text(group, first)
        return batch


FRAME_TEXT_BYTES = 1 << 20  # chunks are merged into one frame up to this much text


def frame_groups(chunks: list[Chunk]) -> list[list[Chunk]]:
    """`chunks` cut into runs of one stream, each up to `FRAME_TEXT_BYTES` of text (a
    bigger chunk alone)."""
    groups: list[list[Chunk]] = []
    size = 0
    for c in chunks:
        if groups and groups[-1][-1].stream == c.stream and size + len(c.text) <= FRAME_TEXT_BYTES:
            groups[-1].append(c)
            size += len(c.text)
        else:
            groups.append([c])
            size = len(c.text)
    return groups


def chunk_lines(c: Chunk) -> Batch:
    return [
        FeedEvent(
            {"type": "log", "timestamp": c.timestamp, "line": line, "stream": c.stream},
            id=f"{c.seq}:{index}",
        )
        for index, line in enumerate(c.lines())
    ]


def chunks_text(group: list[Chunk], first: int) -> Batch:
    """The chunks' lines, from line `first` of the first one, as one event (none when
    there are none left). Chunks hold whole lines, each ending in a newline."""
    head, last = group[0], group[-1]
    lines = head.lines()
    text = head.text if first == 0 else "".join(f"{line}\n" for line in lines[first:])
    text += "".join(c.text for c in group[1:])
    if not text:
        return []
    last_line = len(last.lines()) - 1
    data = {"type": "log", "seq": last.seq, "stream": last.stream, "timestamp": last.timestamp}
    return [FeedEvent({**data, "text": text}, id=f"{last.seq}:{last_line}")]


@csrf_exempt  # GET only: anything else is a 405 from the view
async def run_log_stream(request: HttpRequest, run_id: str) -> HttpResponseBase:
    if refusal := refused(request, run_id=run_id):
        return refusal
    cursor = cursor_param(request, "after")
    match = LOG_CURSOR.match(cursor or "")
    if cursor and not match:
        return error_json(400, f"invalid cursor {cursor!r}: expected <seq>:<line>")
    run = await db(run_ref, run_id)
    if run is None:
        return error_json(404, f"run {run_id!r} not found")
    seq_line = (int(match[1]), int(match[2])) if match else None
    return sse_response(RunLogFeed(run, seq_line))
