"""`GET /api/v1/runs/<r>/stream`: one run's log, then its status, then `done`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from functools import partial

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from conductor_site.live.engine import Batch, FeedEvent, SharedBatches, db
from conductor_site.live.events import LiveEvent, run_group
from conductor_site.live.sse import cursor_param, error_response, refused, sse_response
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
    """The same log a stored chunk per event, not a line per event (`/ws/runs/<r>/logs/`):
    `log` events `{seq, stream, timestamp, text}` whose id names the chunk's last line, so a
    cursor is the same `<seq>:<line>` either way. A flood's chunks hold hundreds of lines:
    a frame per line was the whole cost of a WebSocket viewer (three layers of Python per
    frame), a frame per chunk divides it by the lines a chunk holds."""

    def _lines(self, chunks: list[Chunk]) -> Batch:
        batch: Batch = []
        for c in chunks:
            first = self.log.first_unseen(c)
            if first == 0:
                key = ("chunk", self.log.run_id, c.seq, c.stream, c.timestamp)
                batch += _shared.get(key, len(c.text), partial(chunk_text, c, 0))
            else:  # a cursor inside the chunk: its rest, for this viewer alone
                batch += chunk_text(c, first)
        return batch


def chunk_lines(c: Chunk) -> Batch:
    return [
        FeedEvent(
            {"type": "log", "timestamp": c.timestamp, "line": line, "stream": c.stream},
            id=f"{c.seq}:{index}",
        )
        for index, line in enumerate(c.lines())
    ]


def chunk_text(c: Chunk, first: int) -> Batch:
    """The chunk's lines from index `first` as one event (none when there are none left)."""
    lines = c.lines()
    if first >= len(lines):
        return []
    text = c.text if first == 0 else "".join(f"{line}\n" for line in lines[first:])
    data = {"type": "log", "seq": c.seq, "stream": c.stream, "timestamp": c.timestamp, "text": text}
    return [FeedEvent(data, id=f"{c.seq}:{len(lines) - 1}")]


@csrf_exempt  # GET only: anything else is a 405 from the view
async def run_log_stream(request: HttpRequest, run_id: str) -> HttpResponseBase:
    if refusal := refused(request, run_id=run_id):
        return refusal
    cursor = cursor_param(request, "after")
    match = LOG_CURSOR.match(cursor or "")
    if cursor and not match:
        return error_response(400, f"invalid cursor {cursor!r}: expected <seq>:<line>")
    run = await db(run_ref, run_id)
    if run is None:
        return error_response(404, f"run {run_id!r} not found")
    seq_line = (int(match[1]), int(match[2])) if match else None
    return sse_response(RunLogFeed(run, seq_line))
