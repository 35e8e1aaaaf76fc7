"""The SSE streams (docs/api/streams.md): a run's log, every run's changes, a run's file, a
task's runs fanned in, and the message buses. Each is a `Feed` for `messagebus.sse`.

Log chunks hold complete lines and their `seq` is contiguous per run, so a run's cursor is
`<seq>:<line index>`: a live chunk is used when it is the next one, anything else sends the
stream back to the database. A run that has ended has all its chunks stored (the writer is
flushed before the status changes), so "ended" read before the chunks means nothing is left.
"""

from __future__ import annotations

import codecs
import re
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from conductor_site.ids import is_identifier
from messagebus.publish import run_group
from messagebus.selectors import BusNotFound, UnknownCursor, message_to_api, messages_after
from messagebus.services import bus_group
from messagebus.sse import (
    Subscription,
    cursor_param,
    db,
    error_response,
    keepalive_seconds,
    sse_frame,
    sse_json,
    sse_response,
)
from projects import storage
from runs.events import ALL_RUNS_GROUP
from runs.files import RUN_FILES
from runs.models import TERMINAL_STATUSES, LogChunk, Run
from runs.selectors import rfc3339
from tasks.models import Task

PAGE = 200  # log chunks per database read
FILE_READ = 4 * 1024 * 1024
FRAMES_PER_WRITE = 500
ALL_RUNS_REPLAY_MAX = 1_000  # runs replayed by /runs/stream/all after a cursor
SENT_RUNS_MAX = 10_000
CONNECT_SLACK = timedelta(seconds=5)  # /runs/stream/all without a cursor starts this far back
LOG_CURSOR = re.compile(r"^(\d{1,18}):(\d{1,18})\Z")
TASK_LOG_CURSOR = re.compile(r"^([A-Za-z0-9_-]{1,128}):(\d{1,18}):(\d{1,18})\Z")
# The UI's status words (research/conductor-loop-clients.md §0.5).
UI_STATUS = {
    "created": "queued",
    "queued": "queued",
    "running": "running",
    "success": "completed",
    "failed": "failed",
    "crashed": "failed",
    "stopped": "stopped",
}


# Reading runs and their logs.


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
        return self.exit_code if self.exit_code is not None else -1


@dataclass(frozen=True)
class Chunk:
    seq: int
    stream: str
    text: str
    timestamp: str

    def lines(self) -> list[str]:
        lines = self.text.split("\n")
        return lines[:-1] if lines[-1] == "" else lines


def _ref(run: Run) -> RunRef:
    task = run.attempt.task
    return RunRef(run.id, task.project_id, task.task_id, run.attempt.agent, run.kind)


def _run_ref(run_id: str) -> RunRef | None:
    run = Run.objects.select_related("attempt__task").filter(id=run_id).first()
    return _ref(run) if run is not None else None


def _task_pk(project_id: str, task_id: str) -> int | None:
    return (
        Task.objects.filter(project_id=project_id, task_id=task_id)
        .values_list("pk", flat=True)
        .first()
    )


def _task_runs(task_pk: int) -> list[RunRef] | None:
    """The task's runs, oldest first; None once the task is deleted."""
    if not Task.objects.filter(pk=task_pk).exists():
        return None
    runs = Run.objects.filter(attempt__task_id=task_pk).select_related("attempt__task")
    return [_ref(run) for run in runs.order_by("created_at", "id")]


def _run_state(run_id: str) -> RunState | None:
    row = (
        Run.objects.filter(id=run_id)
        .values_list("status", "exit_code", "started_at", "ended_at")
        .first()
    )
    return RunState(*row) if row is not None else None


def _run_progress(run_id: str, after_seq: int) -> tuple[RunState | None, list[Chunk]]:
    """The run's state, THEN its next chunks: an ended state means these are the last."""
    state = _run_state(run_id)
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

    def take(self, messages: list[dict[str, Any]]) -> tuple[list[Chunk], bool]:
        """The live chunks that follow on, and whether one was missing (read the database)."""
        ready: list[Chunk] = []
        gap = False
        for message in messages:
            if message.get("type") != "log.chunk" or message.get("run_id") != self.run_id:
                continue
            seq = int(message["seq"])
            if seq <= self.last_seq:
                continue
            if seq != self.last_seq + 1 or gap:
                gap = True
                continue
            stamp = str(message["timestamp"]).replace("+00:00", "Z")
            ready.append(Chunk(seq, message["stream"], message["text"], stamp))
            self.last_seq = seq
        return ready, gap

    async def read(self) -> tuple[RunState | None, list[Chunk]]:
        state, chunks = await db(_run_progress, self.run_id, self.last_seq)
        if chunks:
            self.last_seq = chunks[-1].seq
        return state, chunks

    def numbered(self, chunk: Chunk) -> list[tuple[int, str]]:
        """`(index, line)` of the chunk's lines the client has not seen."""
        start = self.skip[1] + 1 if self.skip and chunk.seq == self.skip[0] else 0
        return list(enumerate(chunk.lines()))[start:]


def _changed(messages: list[dict[str, Any]]) -> bool:
    return any(message.get("type") == "run.changed" for message in messages)


def _batched(frames: list[str]) -> list[str]:
    return [
        "".join(frames[i : i + FRAMES_PER_WRITE]) for i in range(0, len(frames), FRAMES_PER_WRITE)
    ]


# 1. GET /api/v1/runs/<id>/stream


class RunLogFeed:
    """Unnamed `log` events (id `<seq>:<line>`), `status` events, and `done` once ended."""

    def __init__(self, run: RunRef, cursor: tuple[int, int] | None) -> None:
        self.groups = [run_group(run.id)]
        self.finished = False
        self.subscription: Subscription | None = None
        self.log = RunLog(run.id, cursor)
        self.sent_status = ""

    def replay(self) -> AsyncIterator[str]:
        return self._catch_up()

    def resync(self) -> AsyncIterator[str]:
        return self._catch_up()

    async def live(self, messages: list[dict[str, Any]], lost: bool) -> AsyncIterator[str]:
        chunks, gap = ([], True) if lost or _changed(messages) else self.log.take(messages)
        if chunks:
            yield self._lines(chunks)
        if gap:
            async for frame in self._catch_up():
                yield frame

    async def _catch_up(self) -> AsyncIterator[str]:
        while True:
            state, chunks = await self.log.read()
            if chunks:
                yield self._lines(chunks)
            if len(chunks) < PAGE:
                break
        if state is None:  # the run was deleted
            self.finished = True
            yield sse_json({"type": "done"})
            return
        if state.status != self.sent_status:
            self.sent_status = state.status
            status: dict[str, Any] = {"type": "status", "status": state.status}
            if state.ended:
                status["exit_code"] = state.api_exit_code
            yield sse_json(status)
        if state.ended:
            self.finished = True
            yield sse_json({"type": "done"})

    def _lines(self, chunks: list[Chunk]) -> str:
        return "".join(
            sse_json(
                {"type": "log", "timestamp": c.timestamp, "line": line, "stream": c.stream},
                id=f"{c.seq}:{index}",
            )
            for c in chunks
            for index, line in self.log.numbered(c)
        )


# 2. GET /api/v1/runs/stream/all


@dataclass(frozen=True)
class Transition:
    event: str  # run_created | run_started | run_updated
    run: RunRef
    status: str
    exit_code: int | None
    at: str  # the event's id: when it happened (replay) or arrived (live)


def _steps(run: Run) -> list[tuple[datetime, Transition]]:
    ref = _ref(run)
    steps: list[tuple[datetime | None, str, str, int | None]] = [
        (run.created_at, "run_created", "queued", None),
        (run.started_at, "run_started", "running", None),
    ]
    if run.status in TERMINAL_STATUSES:
        steps.append((run.ended_at, "run_updated", run.status, run.exit_code))
    return [
        (at, Transition(event, ref, status, code, rfc3339(at) or ""))
        for at, event, status, code in steps
        if at is not None
    ]


def _transitions(since: datetime, run_ids: list[str] | None = None) -> list[Transition]:
    """What happened after `since`, oldest first, from the rows' timestamps: to the runs
    `run_ids`, else to any run (the `ALL_RUNS_REPLAY_MAX` most recent)."""
    runs = Run.objects.select_related("attempt__task")
    if run_ids is not None:
        runs = runs.filter(id__in=run_ids)
    else:
        changed = Q(created_at__gt=since) | Q(started_at__gt=since) | Q(ended_at__gt=since)
        runs = runs.filter(changed).order_by("-created_at")[:ALL_RUNS_REPLAY_MAX]
    found = [step for run in runs for step in _steps(run) if step[0] > since]
    return [transition for _, transition in sorted(found, key=lambda step: step[0])]


class AllRunsFeed:
    """The document's unnamed events, plus named `status` and `log` events for the UI. Each
    is a run's transition read from its row (a doorbell names the run); the id is its time."""

    def __init__(self, since: datetime) -> None:
        self.groups = [ALL_RUNS_GROUP]
        self.finished = False
        self.subscription: Subscription | None = None
        self.since = since
        self.sent: OrderedDict[str, set[str]] = OrderedDict()

    async def replay(self) -> AsyncIterator[str]:
        for text in _batched(await self._unsent(self.since)):
            yield text

    async def resync(self) -> AsyncIterator[str]:
        """Only the last minutes: older doorbells were checked by earlier resyncs."""
        window = timedelta(seconds=max(60.0, 4 * keepalive_seconds()))
        for text in _batched(await self._unsent(max(self.since, timezone.now() - window))):
            yield text

    async def live(self, messages: list[dict[str, Any]], lost: bool) -> AsyncIterator[str]:
        rung = {str(m.get("run_id")) for m in messages if m.get("type") == "run.changed"}
        if lost:
            async for text in self.resync():
                yield text
        elif rung:
            for text in _batched(await self._unsent(self.since, sorted(rung))):
                yield text

    async def _unsent(self, since: datetime, run_ids: list[str] | None = None) -> list[str]:
        transitions = await db(_transitions, since, run_ids)
        return [self._frames(t) for t in transitions if self._first(t)]

    def _first(self, t: Transition) -> bool:
        """True once per (run, event, status): replay, resync and live may all see it."""
        seen = self.sent.setdefault(t.run.id, set())
        self.sent.move_to_end(t.run.id)
        key = f"{t.event}:{t.status}"
        if key in seen:
            return False
        seen.add(key)
        while len(self.sent) > SENT_RUNS_MAX:
            self.sent.popitem(last=False)
        return True

    @staticmethod
    def _frames(t: Transition) -> str:
        ids = {"run_id": t.run.id, "project_id": t.run.project_id, "task_id": t.run.task_id}
        document: dict[str, Any] = {"type": t.event, **ids, "status": t.status}
        if t.status in TERMINAL_STATUSES:
            document["exit_code"] = t.exit_code if t.exit_code is not None else -1
        document["kind"] = t.run.kind
        status = {
            "type": "run_updated",
            **ids,
            "status": UI_STATUS.get(t.status, t.status),
            "exit_code": t.exit_code if t.exit_code is not None else -1,
        }
        frames = sse_json(document, id=t.at) + sse_json(status, event="status", id=t.at)
        if t.event == "run_started":
            frames += sse_json(ids, event="log", id=t.at)
        return frames


# 4. GET /api/projects/<p>/tasks/<t>/runs/<r>/stream?name=F


def _file_bytes(run_id: str, path: Path | None, offset: int) -> bytes:
    """The prompt (`path` None) or a file of the run folder, from byte `offset`."""
    if path is None:
        prompt = Run.objects.filter(id=run_id).values_list("prompt", flat=True).first()
        return (prompt or "").encode()[offset : offset + FILE_READ]
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(FILE_READ)
    except FileNotFoundError:
        return b""


class RunFileFeed:
    """The file's raw text from byte 0 in unnamed events, then `event: done` once the run
    ended and all was sent. `stdout`/`stderr` come from the log; `output.md` from the run
    folder (looked at on each doorbell of the run and each resync); `prompt` from the run."""

    def __init__(self, run: RunRef, name: str) -> None:
        self.groups = [run_group(run.id)]
        self.finished = False
        self.subscription: Subscription | None = None
        self.run = run
        self.name = name
        self.log = RunLog(run.id)
        self.sent_bytes = 0
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        folder = storage.run_dir(run.project_id, run.task_id, run.id)
        self.path = folder / "output.md" if name == "output.md" else None

    def replay(self) -> AsyncIterator[str]:
        return self._catch_up()

    def resync(self) -> AsyncIterator[str]:
        return self._catch_up()

    async def live(self, messages: list[dict[str, Any]], lost: bool) -> AsyncIterator[str]:
        from_log = self.name in ("stdout", "stderr") and not lost and not _changed(messages)
        chunks, gap = self.log.take(messages) if from_log else ([], True)
        if text := self._text(chunks):
            yield sse_frame(text)
        if gap:
            async for frame in self._catch_up():
                yield frame

    async def _catch_up(self) -> AsyncIterator[str]:
        if self.name in ("stdout", "stderr"):
            while True:
                state, chunks = await self.log.read()
                if text := self._text(chunks):
                    yield sse_frame(text)
                if len(chunks) < PAGE:
                    break
        else:
            state = await db(_run_state, self.run.id)
            while data := await db(_file_bytes, self.run.id, self.path, self.sent_bytes):
                self.sent_bytes += len(data)
                if text := self.decoder.decode(data, final=False):
                    yield sse_frame(text)
        if state is None or state.ended:
            if tail := self.decoder.decode(b"", final=True):
                yield sse_frame(tail)
            self.finished = True
            yield sse_frame("{}", event="done")

    def _text(self, chunks: list[Chunk]) -> str:
        return "".join(chunk.text for chunk in chunks if chunk.stream == self.name)


# 5. GET /api/projects/<p>/tasks/<t>/runs/stream


@dataclass
class _FollowedRun:
    ref: RunRef
    log: RunLog
    started: bool = False


class TaskRunsFeed:
    """Named `log` events of every run of the task (id `<run>:<seq>:<line>`), with
    `run_start`/`run_end` markers; runs created later join in. It never ends by itself."""

    def __init__(
        self, task_pk: int, project_id: str, task_id: str, cursor: tuple[str, int, int] | None
    ) -> None:
        self.groups = [ALL_RUNS_GROUP]
        self.finished = False
        self.subscription: Subscription | None = None
        self.task_pk = task_pk
        self.ids = {"project_id": project_id, "task_id": task_id}
        self.cursor = cursor
        self.following: dict[str, _FollowedRun] = {}
        self.ended: set[str] = set()

    async def replay(self) -> AsyncIterator[str]:
        async for frame in self._discover():
            yield frame

    async def resync(self) -> AsyncIterator[str]:
        for run in list(self.following.values()):
            async for frame in self._catch_up(run):
                yield frame
        async for frame in self._discover():
            yield frame

    async def live(self, messages: list[dict[str, Any]], lost: bool) -> AsyncIterator[str]:
        if lost:
            async for frame in self.resync():
                yield frame
            return
        by_run: dict[str, list[dict[str, Any]]] = {}
        discover = False
        for message in messages:
            run_id = str(message.get("run_id"))
            if run_id in self.following:
                by_run.setdefault(run_id, []).append(message)
            elif run_id not in self.ended and self._of_this_task(message):
                discover = True
        for run_id, mine in by_run.items():
            run = self.following[run_id]
            chunks, gap = ([], True) if _changed(mine) else run.log.take(mine)
            if chunks:
                yield self._lines(run, chunks)
            if gap:
                async for frame in self._catch_up(run):
                    yield frame
        if discover:
            async for frame in self._discover():
                yield frame

    def _of_this_task(self, message: dict[str, Any]) -> bool:
        return (
            message.get("type") == "run.changed"
            and message.get("project_id") == self.ids["project_id"]
            and message.get("task_id") == self.ids["task_id"]
        )

    async def _discover(self) -> AsyncIterator[str]:
        """Follow each run of the task not followed yet: join its group, then replay it."""
        assert self.subscription is not None
        refs = await db(_task_runs, self.task_pk)
        if refs is None:
            self.finished = True
            return
        for ref in refs:
            if ref.id in self.following or ref.id in self.ended:
                continue
            await self.subscription.add(run_group(ref.id))
            skip = self.cursor[1:] if self.cursor and self.cursor[0] == ref.id else None
            run = self.following[ref.id] = _FollowedRun(ref, RunLog(ref.id, skip))
            async for frame in self._catch_up(run):
                yield frame

    async def _catch_up(self, run: _FollowedRun) -> AsyncIterator[str]:
        while True:
            state, chunks = await run.log.read()
            if state is not None and state.started_at and not run.started:
                run.started = True
                start = {"run_id": run.ref.id, "agent": run.ref.agent, "kind": run.ref.kind}
                start["start_time"] = rfc3339(state.started_at) or ""
                yield sse_json(start, event="run_start")
            if chunks:
                yield self._lines(run, chunks)
            if len(chunks) < PAGE:
                break
        if state is None or state.ended:
            if state is not None:
                end: dict[str, Any] = {"run_id": run.ref.id, "status": state.status}
                end |= {"exit_code": state.api_exit_code, "end_time": rfc3339(state.ended_at)}
                yield sse_json(end, event="run_end")
            del self.following[run.ref.id]
            self.ended.add(run.ref.id)
            assert self.subscription is not None
            await self.subscription.discard(run_group(run.ref.id))

    def _lines(self, run: _FollowedRun, chunks: list[Chunk]) -> str:
        return "".join(
            sse_json(
                {
                    "run_id": run.ref.id,
                    "stream": c.stream,
                    "line": line,
                    "timestamp": c.timestamp,
                    **self.ids,
                },
                event="log",
                id=f"{run.ref.id}:{c.seq}:{index}",
            )
            for c in chunks
            for index, line in run.log.numbered(c)
        )


# 3. The message buses.


def _bus_after(project_id: str, task_id: str | None, after: str | None) -> list[tuple[str, dict]]:
    messages = messages_after(project_id=project_id, task_id=task_id, after=after)
    return [(m.msg_id, message_to_api(m)) for m in messages]


class BusFeed:
    """Each message as `id: <msg_id>` + `data: <list item>`. Every doorbell re-reads the
    database after the last id sent: appends are serialized, so nothing commits behind it."""

    def __init__(self, project_id: str, task_id: str | None, after: str | None) -> None:
        self.groups = [bus_group(project_id, task_id)]
        self.finished = False
        self.subscription: Subscription | None = None
        self.project_id = project_id
        self.task_id = task_id
        self.last = after

    def replay(self) -> AsyncIterator[str]:
        return self._catch_up()

    def resync(self) -> AsyncIterator[str]:
        return self._catch_up()

    async def live(self, messages: list[dict[str, Any]], lost: bool) -> AsyncIterator[str]:
        if lost or any(message.get("type") == "bus.message" for message in messages):
            async for frame in self._catch_up():
                yield frame

    async def _catch_up(self) -> AsyncIterator[str]:
        try:
            items = await db(_bus_after, self.project_id, self.task_id, self.last)
        except (BusNotFound, UnknownCursor):  # the project, task or cursor was deleted
            self.finished = True
            return
        if items:
            self.last = items[-1][0]
            for text in _batched([sse_json(item, id=msg_id) for msg_id, item in items]):
                yield text


# The views.


def _refused(request: HttpRequest, **ids: str | None) -> HttpResponseBase | None:
    if request.method != "GET":
        return error_response(405, f"method {request.method} not allowed: streams are GET")
    for name, value in ids.items():
        if value is not None and not is_identifier(value):
            return error_response(400, f"invalid {name} {value!r}")
    return None


@csrf_exempt  # GET only: anything else is a 405 from the view
async def run_log_stream(request: HttpRequest, run_id: str) -> HttpResponseBase:
    if refused := _refused(request, run_id=run_id):
        return refused
    cursor = cursor_param(request, "after")
    match = LOG_CURSOR.match(cursor or "")
    if cursor and not match:
        return error_response(400, f"invalid cursor {cursor!r}: expected <seq>:<line>")
    run = await db(_run_ref, run_id)
    if run is None:
        return error_response(404, f"run {run_id!r} not found")
    seq_line = (int(match[1]), int(match[2])) if match else None
    return sse_response(RunLogFeed(run, seq_line))


@csrf_exempt
async def all_runs_stream(request: HttpRequest) -> HttpResponseBase:
    if refused := _refused(request):
        return refused
    cursor = cursor_param(request, "after")
    since = parse_datetime(cursor) if cursor else timezone.now() - CONNECT_SLACK
    if since is None or since.tzinfo is None:
        return error_response(400, f"invalid cursor {cursor!r}: expected an RFC 3339 time")
    return sse_response(AllRunsFeed(since))


@csrf_exempt
async def run_file_stream(
    request: HttpRequest, project_id: str, task_id: str, run_id: str
) -> HttpResponseBase:
    if refused := _refused(request, project_id=project_id, task_id=task_id, run_id=run_id):
        return refused
    name = request.GET.get("name", "")
    if name not in RUN_FILES:
        return error_response(400, f"unknown file {name!r}: use one of {', '.join(RUN_FILES)}")
    run = await db(_run_ref, run_id)
    if run is None or (run.project_id, run.task_id) != (project_id, task_id):
        return error_response(404, f"run {run_id!r} not found in task {project_id}/{task_id}")
    return sse_response(RunFileFeed(run, name))


@csrf_exempt
async def task_runs_stream(request: HttpRequest, project_id: str, task_id: str) -> HttpResponseBase:
    if refused := _refused(request, project_id=project_id, task_id=task_id):
        return refused
    cursor = cursor_param(request, "after")
    match = TASK_LOG_CURSOR.match(cursor or "")
    if cursor and not match:
        return error_response(400, f"invalid cursor {cursor!r}: expected <run_id>:<seq>:<line>")
    task_pk = await db(_task_pk, project_id, task_id)
    if task_pk is None:
        return error_response(404, f"task {task_id!r} not found in project {project_id!r}")
    run_seq_line = (match[1], int(match[2]), int(match[3])) if match else None
    return sse_response(TaskRunsFeed(task_pk, project_id, task_id, run_seq_line))


async def _bus_stream(
    request: HttpRequest, project_id: str, task_id: str | None
) -> HttpResponseBase:
    after = cursor_param(request, "after", "since")
    if refused := _refused(request, project_id=project_id, task_id=task_id, after=after):
        return refused
    try:  # the bus exists and so does the cursor
        await db(
            partial(messages_after, project_id=project_id, task_id=task_id, after=after, limit=1)
        )
    except UnknownCursor as exc:
        return error_response(404, str(exc), msg_id=exc.msg_id)
    except BusNotFound as exc:
        return error_response(404, str(exc))
    return sse_response(BusFeed(project_id, task_id, after))


@csrf_exempt
async def messages_stream(request: HttpRequest) -> HttpResponseBase:
    project_id = request.GET.get("project_id", "")
    if not project_id and request.method == "GET":
        return error_response(400, "project_id is required")
    return await _bus_stream(request, project_id, request.GET.get("task_id") or None)


@csrf_exempt
async def project_messages_stream(request: HttpRequest, project_id: str) -> HttpResponseBase:
    return await _bus_stream(request, project_id, None)


@csrf_exempt
async def task_messages_stream(
    request: HttpRequest, project_id: str, task_id: str
) -> HttpResponseBase:
    return await _bus_stream(request, project_id, task_id)
