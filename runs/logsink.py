"""Durable first, live second: how a run's output becomes LogChunk rows and live events.

Readers (one thread per pipe) decode and split what an agent prints into complete lines and
hand the text to the process's single `LogWriter`, which batches only under load (group
commit): an idle writer flushes as soon as text arrives, so a lone line is stored and published
at once; what arrives while a flush is being written waits for the next one, so under load each
flush takes everything that piled up and batches grow by themselves. A flush turns each run's
pending text into chunks with the run's next `seq`, writes them all in one transaction, and only
then publishes them. One writer per process keeps SQLite's
write lock uncontended (shared/research/embedded-mode.md, Q3). A write that fails is retried
with the same numbered chunks, so `seq` has no gap and no line is stored or counted twice.

Memory per run is bounded: past `LOG_PENDING_BYTES` of text not yet taken by the writer (or
while a failed write waits for its retry), `append` waits, the reader stops reading, and the
agent blocks on a full pipe as it would writing into any slow reader. Each piece is copied a
fixed number of times (pieces of a stream are joined once per flush), so a flood costs time
linear in its bytes.
"""

from __future__ import annotations

import codecs
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from conductor_site.db import connection_release
from conductor_site.live import events
from conductor_site.live.publish import publish
from runs.models import LogChunk

log = logging.getLogger(__name__)


def _conf(name: str) -> Any:
    return settings.CONDUCTOR[name]


class LineSplitter:
    """Turns a pipe's bytes into text made of complete lines, with no limit on line length
    up to `LOG_MAX_LINE_BYTES`; longer lines are cut with a marker."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._partial = ""
        self._skipping = 0  # characters dropped from the current over-long line
        self._max_line = int(_conf("LOG_MAX_LINE_BYTES"))

    def feed(self, data: bytes) -> str:
        return self._split(self._decoder.decode(data))

    def finish(self) -> str:
        text = self._split(self._decoder.decode(b"", final=True))
        if self._partial or self._skipping:
            text += self._end_line("")
        return text

    def _split(self, text: str) -> str:
        cut = text.rfind("\n")
        if cut < 0:
            self._grow(text)
            return ""
        complete, rest = text[: cut + 1], text[cut + 1 :]
        first = complete.find("\n")
        done = self._end_line(complete[:first]) + complete[first + 1 :]
        self._grow(rest)
        return done

    def _grow(self, text: str) -> None:
        if self._skipping:
            self._skipping += len(text)
            return
        self._partial += text
        if len(self._partial) > self._max_line:
            self._skipping = len(self._partial) - self._max_line
            self._partial = self._partial[: self._max_line]

    def _end_line(self, rest: str) -> str:
        if self._skipping:
            dropped = self._skipping + len(rest)
            line = f"{self._partial} [conductor: line cut, {dropped} more characters dropped]\n"
        else:
            line = self._partial + rest + "\n"
        self._partial, self._skipping = "", 0
        return line


@dataclass
class LogTotals:
    bytes: int = 0
    lines: int = 0
    truncated: bool = False
    error: str = ""
    peak_held_bytes: int = 0  # the most of the run's text in memory at once, not yet stored


@dataclass
class _RunLog:
    run_id: str
    next_seq: int
    pending: list[tuple[str, str]] = field(default_factory=list)
    pending_bytes: int = 0
    totals: LogTotals = field(default_factory=LogTotals)
    tail: deque[tuple[str, str]] = field(default_factory=deque)
    tail_bytes: int = 0
    dropped_bytes: int = 0
    dropped_lines: int = 0
    closing: bool = False
    closed: threading.Event = field(default_factory=threading.Event)
    failures: int = 0
    retry_at: float = 0.0  # monotonic time before which a failed write is not retried
    unstored: list[LogChunk] = field(default_factory=list)  # numbered, written next time
    held_bytes: int = 0  # appended text not yet stored: pending, being written, or unstored
    unstored_bytes: int = 0  # the part of held_bytes being written, or awaiting its retry


class LogWriter:
    """The process's one batching writer of LogChunk rows."""

    def __init__(self) -> None:
        self._runs: dict[str, _RunLog] = {}
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # notified when pending text is taken
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="log-writer", daemon=True)
        self._thread.start()

    def open_run(self, run_id: str) -> None:
        last = LogChunk.objects.filter(run_id=run_id).aggregate(m=Max("seq"))["m"] or 0
        with self._lock:
            self._runs[run_id] = _RunLog(run_id, next_seq=last + 1)

    def append(self, run_id: str, stream: str, text: str) -> None:
        """Queue a reader's text; waits while the run already has `LOG_PENDING_BYTES` queued
        (the writer takes it within a flush, or after the retry of a failed write)."""
        if not text:
            return
        bound = int(_conf("LOG_PENDING_BYTES"))
        with self._lock:
            run = self._runs.get(run_id)
            while run is not None and run.pending_bytes >= bound:
                self._room.wait(1.0)  # a flush, a give-up or the close notifies
                run = self._runs.get(run_id)
            if run is None:  # a straggler after the run was closed
                return
            run.pending.append((stream, text))
            run.pending_bytes += len(text)
            run.held_bytes += len(text)
            run.totals.peak_held_bytes = max(run.totals.peak_held_bytes, run.held_bytes)
        self._wake.set()  # an idle writer flushes now; a busy one right after its flush

    def close_run(self, run_id: str, timeout: float = 60.0) -> LogTotals:
        """Flush everything the run printed, then forget it; returns what was stored."""
        with self._lock:
            run = self._runs[run_id]
            run.closing = True
        self._wake.set()
        if not run.closed.wait(timeout):
            run.totals.error = "the log writer did not finish storing this run's output"
        return run.totals

    def _loop(self) -> None:
        """Flush whenever text is waiting: at once when idle, else as soon as the flush in
        progress is done. The interval only paces the retry of a failed write."""
        interval = float(_conf("LOG_FLUSH_SECONDS"))
        while True:
            self._wake.wait(interval)
            self._wake.clear()  # before the flush: what arrives during it wakes the next one
            try:
                self.flush()
                connection_release()  # until the next flush, which may be minutes away
            except Exception:
                log.exception("log writer flush failed")

    def flush(self) -> None:
        """Store what every run has pending. A run whose last write failed retries only that
        write: what it printed since waits in `pending`, which bounds it."""
        with self._lock:
            due = time.monotonic()
            work = [self._take(run) for run in self._runs.values() if run.retry_at <= due]
            self._room.notify_all()
        now = timezone.now()
        batches = {
            run.run_id: [*run.unstored, *self._chunks_for(run, pending, closing, now)]
            for run, pending, closing in work
        }
        failed = self._store({run_id: chunks for run_id, chunks in batches.items() if chunks})
        stored = [c for run_id, chunks in batches.items() if run_id not in failed for c in chunks]
        publish((events.run_group(c.run_id), chunk_event(c)) for c in stored)
        with self._lock:
            for run, _, closing in work:
                self._settle(run, batches[run.run_id], failed.get(run.run_id), closing)

    @staticmethod
    def _take(run: _RunLog) -> tuple[_RunLog, list[tuple[str, str]], bool]:
        """What this flush writes of the run: its pending text, unless a failed write awaits
        its retry (then `unstored_bytes` already names what is being written)."""
        if run.unstored:
            return run, [], run.closing
        pending, run.unstored_bytes = run.pending, run.pending_bytes
        run.pending, run.pending_bytes = [], 0
        return run, pending, run.closing

    def _store(self, batches: dict[str, list[LogChunk]]) -> dict[str, str]:
        """Write every run's chunks in one transaction; if that fails, each run's in its own,
        so one run's bad rows hold no other run back. Returns {run_id: error} of the failed."""
        if not batches or _insert([c for chunks in batches.values() for c in chunks]) is None:
            return {}
        failed = {run_id: _insert(chunks) for run_id, chunks in batches.items()}
        return {run_id: error for run_id, error in failed.items() if error is not None}

    def _settle(
        self, run: _RunLog, chunks: list[LogChunk], error: str | None, closing: bool
    ) -> None:
        """After a write. A run whose write failed keeps its chunks, numbered and counted, for
        the flush one interval later (`retry_at`: other runs' flushes do not hammer an
        outage): its seq stays contiguous and nothing is counted twice. A closing run that
        failed three times gives up and says so."""
        run.unstored = []
        if error is None:
            run.failures = 0
            run.held_bytes -= run.unstored_bytes
            run.unstored_bytes = 0
        else:
            run.failures += 1
            run.retry_at = time.monotonic() + float(_conf("LOG_FLUSH_SECONDS"))
            log.error("run %s: could not store %d log chunks: %s", run.run_id, len(chunks), error)
            if not (closing and run.failures >= 3):
                run.unstored = chunks
                return
            self._give_up(run, chunks, error)
        if closing:
            self._finish_closed(run)

    def _give_up(self, run: _RunLog, chunks: list[LogChunk], error: str) -> None:
        for chunk in chunks:  # the totals say what was stored
            run.totals.bytes -= len(chunk.text.encode())
            run.totals.lines -= chunk.line_count
        run.totals.error = f"{len(chunks)} log chunks could not be stored: {error}"
        run.pending, run.pending_bytes = [], 0
        self._room.notify_all()

    def _finish_closed(self, run: _RunLog) -> None:
        if run.pending:
            self._wake.set()
            return
        self._runs.pop(run.run_id, None)
        self._room.notify_all()
        run.closed.set()

    def _chunks_for(
        self, run: _RunLog, pending: list[tuple[str, str]], closing: bool, now: datetime
    ) -> list[LogChunk]:
        pieces: list[tuple[str, str]] = []
        for stream, text in pending:
            pieces += self._capped(run, stream, text)
        if closing and run.totals.truncated and not run.pending:
            pieces += self._tail_out(run)
        chunks: list[LogChunk] = []
        for stream, text in _merge(pieces):
            chunks.append(
                LogChunk(
                    run_id=run.run_id,
                    seq=run.next_seq,
                    stream=stream,
                    text=text,
                    line_count=text.count("\n"),
                    created_at=now,
                )
            )
            run.next_seq += 1
        return chunks

    def _capped(self, run: _RunLog, stream: str, text: str) -> list[tuple[str, str]]:
        """Store up to the cap minus the tail's share; past it keep only the latest lines."""
        limit = int(_conf("LOG_MAX_BYTES")) - int(_conf("LOG_TAIL_BYTES"))
        totals = run.totals
        if not totals.truncated:
            size = len(text.encode())
            if totals.bytes + size <= limit:
                self._count(totals, text, size)
                return [(stream, text)]
            head, text = _split_at_bytes(text, limit - totals.bytes)
            self._count(totals, head, len(head.encode()))
            totals.truncated = True
            marker = (
                f"[conductor] output passed the {_conf('LOG_MAX_BYTES')}-byte log cap: the run "
                "goes on; lines from here are not stored, except the last ones, kept at its end\n"
            )
            self._count(totals, marker, len(marker))
            self._keep_tail(run, stream, text)
            return [(stream, head), (stream, marker)] if head else [(stream, marker)]
        self._keep_tail(run, stream, text)
        return []

    def _keep_tail(self, run: _RunLog, stream: str, text: str) -> None:
        run.tail.append((stream, text))
        run.tail_bytes += len(text)
        budget = int(_conf("LOG_TAIL_BYTES"))
        while run.tail_bytes > budget and run.tail:
            old_stream, old = run.tail.popleft()
            run.tail_bytes -= len(old)
            excess = run.tail_bytes + len(old) - budget
            if excess < len(old):  # keep the newest whole lines of this piece
                cut = old.find("\n", excess - 1)
                kept = old[cut + 1 :] if cut >= 0 else ""
                if kept:
                    run.tail.appendleft((old_stream, kept))
                    run.tail_bytes += len(kept)
                old = old[: len(old) - len(kept)]
            run.dropped_bytes += len(old.encode())
            run.dropped_lines += old.count("\n")

    def _tail_out(self, run: _RunLog) -> list[tuple[str, str]]:
        marker = (
            f"[conductor] {run.dropped_lines} lines ({run.dropped_bytes} bytes) were not "
            "stored; the last lines of the run follow\n"
        )
        pieces = [("stdout", marker), *run.tail]
        for _, text in pieces:
            self._count(run.totals, text, len(text.encode()))
        run.tail.clear()
        return pieces

    @staticmethod
    def _count(totals: LogTotals, text: str, size: int) -> None:
        totals.bytes += size
        totals.lines += text.count("\n")


# One statement for a batch of chunks: the ORM's bulk_create compiled its INSERT again for
# every batch, most of a flush's CPU (py-spy, 50 runs: `as_sql` 10% of the server's GIL time
# against 2.6% for SQLite running it). The rows' ids are not read back: nothing uses them.
_INSERT_CHUNK = (
    f"INSERT INTO {LogChunk._meta.db_table} (run_id, seq, stream, text, line_count, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)


def _db_time(at: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(at)


def _insert(chunks: list[LogChunk]) -> str | None:
    """Write the chunks in one transaction; what went wrong, or None.

    A failed write closes the connection, so the retry has a fresh one: a kept SQLite
    connection whose INSERT failed to compile (a trigger naming a missing table) keeps its
    stale schema and fails the same way after the schema is fixed, because only a statement
    that reads a table makes SQLite check the schema again; Django's `is_usable()` is always
    True for SQLite, so `close_old_connections()` kept it once connections persist."""
    rows = [
        (c.run_id, c.seq, c.stream, c.text, c.line_count, _db_time(c.created_at)) for c in chunks
    ]
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(_INSERT_CHUNK, rows)
    except DatabaseError as exc:
        connection.close()
        return str(exc) or type(exc).__name__
    return None


def _split_at_bytes(text: str, budget: int) -> tuple[str, str]:
    """The longest run of whole lines within `budget` bytes, and the rest."""
    if budget <= 0:
        return "", text
    prefix = text.encode()[:budget].decode(errors="ignore")
    cut = prefix.rfind("\n")
    return text[: cut + 1], text[cut + 1 :]


def _merge(pieces: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Consecutive pieces of one stream as one text, each joined once: concatenating them
    one by one copied the text so far for every piece (quadratic in a flood)."""
    groups: list[tuple[str, list[str]]] = []
    for stream, text in pieces:
        if groups and groups[-1][0] == stream:
            groups[-1][1].append(text)
        else:
            groups.append((stream, [text]))
    return [(stream, "".join(texts)) for stream, texts in groups]


def chunk_event(chunk: LogChunk) -> events.LogChunk:
    return {
        "type": "log.chunk",
        "run_id": chunk.run_id,
        "seq": chunk.seq,
        "stream": chunk.stream,
        "text": chunk.text,
        "lines": chunk.line_count,
        "timestamp": chunk.created_at.isoformat(),
    }


_writer: LogWriter | None = None
_writer_lock = threading.Lock()


def log_writer() -> LogWriter:
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = LogWriter()
        return _writer
