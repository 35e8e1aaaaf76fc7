"""What the run streams read: a run's identity, its state, and its log in `seq` order.

Log chunks hold complete lines and their `seq` is contiguous per run, so a run's cursor is
`<seq>:<line index>`: a live chunk is used when it is the next one, anything else sends the
stream back to the database. A run that has ended has all its chunks stored (the writer is
flushed before the status changes), so "ended" read before the chunks means nothing is left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from conductor_site.live.engine import db
from conductor_site.live.events import LiveEvent
from runs.models import TERMINAL_STATUSES, LogChunk, Run
from runs.selectors import api_exit_code, rfc3339

PAGE = 200  # log chunks per database read


@dataclass(frozen=True)
class RunRef:
    id: str
    project_id: str
    task_id: str
    agent: str
    kind: str


@dataclass(frozen=True)
class RunState:
    status: str
    exit_code: int | None
    started_at: datetime | None
    ended_at: datetime | None

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def api_exit_code(self) -> int:
        return api_exit_code(self.exit_code)


@dataclass(frozen=True)
class Chunk:
    seq: int
    stream: str
    text: str
    timestamp: str

    def lines(self) -> list[str]:
        lines = self.text.split("\n")
        return lines[:-1] if lines[-1] == "" else lines


def ref_of(run: Run) -> RunRef:
    """`run` loaded with `select_related("attempt__task")`."""
    task = run.attempt.task
    return RunRef(run.id, task.project_id, task.task_id, run.attempt.agent, run.kind)


def run_ref(run_id: str) -> RunRef | None:
    run = Run.objects.select_related("attempt__task").filter(id=run_id).first()
    return ref_of(run) if run is not None else None


def run_state(run_id: str) -> RunState | None:
    row = (
        Run.objects.filter(id=run_id)
        .values_list("status", "exit_code", "started_at", "ended_at")
        .first()
    )
    return RunState(*row) if row is not None else None


def run_changed(messages: list[LiveEvent]) -> bool:
    """Whether a doorbell says a run's row changed (its status): read the database."""
    return any(message["type"] == "run.changed" for message in messages)


def _run_progress(run_id: str, after_seq: int) -> tuple[RunState | None, list[Chunk]]:
    """The run's state, THEN its next chunks: an ended state means these are the last."""
    state = run_state(run_id)
    rows = (
        LogChunk.objects.filter(run_id=run_id, seq__gt=after_seq)
        .order_by("seq")
        .values_list("seq", "stream", "text", "created_at")[:PAGE]
    )
    return state, [Chunk(seq, stream, text, rfc3339(at) or "") for seq, stream, text, at in rows]


class RunLog:
    """One run's chunks in `seq` order, none missing or repeated: live chunks while they
    follow on, the database after a gap. `skip` is a `(seq, line)` cursor inside a chunk."""

    def __init__(self, run_id: str, skip: tuple[int, int] | None = None) -> None:
        self.run_id = run_id
        self.skip = skip
        self.last_seq = skip[0] - 1 if skip else 0

    def take(self, messages: list[LiveEvent]) -> tuple[list[Chunk], bool]:
        """The live chunks that follow on, and whether one was missing (read the database)."""
        ready: list[Chunk] = []
        gap = False
        for message in messages:
            if message["type"] != "log.chunk" or message["run_id"] != self.run_id:
                continue
            seq = message["seq"]
            if seq <= self.last_seq:
                continue
            if seq != self.last_seq + 1 or gap:
                gap = True
                continue
            stamp = message["timestamp"].replace("+00:00", "Z")
            ready.append(Chunk(seq, message["stream"], message["text"], stamp))
            self.last_seq = seq
        return ready, gap

    async def read(self) -> tuple[RunState | None, list[Chunk]]:
        """The run's state and its next page of chunks (fewer than `PAGE`: none are left)."""
        state, chunks = await db(_run_progress, self.run_id, self.last_seq)
        if chunks:
            self.last_seq = chunks[-1].seq
        return state, chunks

    def numbered(self, chunk: Chunk) -> list[tuple[int, str]]:
        """`(index, line)` of the chunk's lines the client has not seen."""
        return list(enumerate(chunk.lines()))[self.first_unseen(chunk) :]

    def first_unseen(self, chunk: Chunk) -> int:
        """The index of the chunk's first line the client has not seen."""
        return self.skip[1] + 1 if self.skip and chunk.seq == self.skip[0] else 0
