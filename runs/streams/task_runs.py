"""`GET /api/projects/<p>/tasks/<t>/runs/stream`: the logs of every run of a task, fanned in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import QuerySet
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from conductor_site.errors import error_json
from conductor_site.live.engine import Batch, FeedEvent, db
from conductor_site.live.events import ALL_RUNS_GROUP, LiveEvent, run_group
from conductor_site.live.sse import cursor_param, refused, sse_response
from conductor_site.live.subscription import Subscription
from runs.models import Run
from runs.selectors import rfc3339, ui_status
from runs.streams.run_reads import PAGE, Chunk, RunLog, RunRef, ref_of, run_changed

TASK_LOG_CURSOR = re.compile(r"^([A-Za-z0-9_-]{1,128}):(\d{1,18}):(\d{1,18})\Z")


def _task_pk(project_id: str, task_id: str) -> int | None:
    return (
        _tasks().filter(project_id=project_id, task_id=task_id).values_list("pk", flat=True).first()
    )


def _tasks() -> QuerySet[Any]:
    """Tasks, named by the model string as `Attempt.task` names them: `tasks` stands on
    `runs`, so `runs` does not import it."""
    return apps.get_model("tasks", "Task").objects.all()


def _task_runs(task_pk: int) -> list[RunRef] | None:
    """The task's runs, oldest first; None once the task is deleted."""
    if not _tasks().filter(pk=task_pk).exists():
        return None
    runs = Run.objects.filter(attempt__task_id=task_pk).select_related("attempt__task")
    return [ref_of(run) for run in runs.order_by("created_at", "id")]


@dataclass
class _FollowedRun:
    ref: RunRef
    log: RunLog
    started: bool = False


class TaskRunsFeed:
    """Named `log` events of every run of the task (id `<run>:<seq>:<line>`), with
    `run_start`/`run_end` markers; runs created later join in. It ends, with `event: done`,
    only when the task is deleted."""

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

    async def replay(self) -> AsyncIterator[Batch]:
        async for batch in self._discover():
            yield batch

    async def resync(self) -> AsyncIterator[Batch]:
        for run in list(self.following.values()):
            async for batch in self._catch_up(run):
                yield batch
        async for batch in self._discover():
            yield batch

    async def live(self, messages: list[LiveEvent], lost: bool) -> AsyncIterator[Batch]:
        if lost:
            async for batch in self.resync():
                yield batch
            return
        by_run: dict[str, list[LiveEvent]] = {}
        discover = False
        for message in messages:
            if message["type"] not in ("log.chunk", "run.changed"):
                continue
            run_id = message["run_id"]
            if run_id in self.following:
                by_run.setdefault(run_id, []).append(message)
            elif run_id not in self.ended and self._of_this_task(message):
                discover = True
        for run_id, mine in by_run.items():
            run = self.following[run_id]
            chunks, gap = ([], True) if run_changed(mine) else run.log.take(mine)
            if chunks:
                yield self._lines(run, chunks)
            if gap:
                async for batch in self._catch_up(run):
                    yield batch
        if discover:
            async for batch in self._discover():
                yield batch

    def _of_this_task(self, message: LiveEvent) -> bool:
        return (
            message["type"] == "run.changed"
            and message["project_id"] == self.ids["project_id"]
            and message["task_id"] == self.ids["task_id"]
        )

    async def _discover(self) -> AsyncIterator[Batch]:
        """Follow each run of the task not followed yet: join its group, then replay it."""
        assert self.subscription is not None
        refs = await db(_task_runs, self.task_pk)
        if refs is None:  # the task was deleted: nothing more can come
            self.finished = True
            yield [FeedEvent("{}", name="done")]
            return
        for ref in refs:
            if ref.id in self.following or ref.id in self.ended:
                continue
            await self.subscription.add(run_group(ref.id))
            skip = self.cursor[1:] if self.cursor and self.cursor[0] == ref.id else None
            run = self.following[ref.id] = _FollowedRun(ref, RunLog(ref.id, skip))
            async for batch in self._catch_up(run):
                yield batch

    async def _catch_up(self, run: _FollowedRun) -> AsyncIterator[Batch]:
        while True:
            state, chunks = await run.log.read()
            if state is not None and state.started_at and not run.started:
                run.started = True
                start = {"run_id": run.ref.id, "agent": run.ref.agent, "kind": run.ref.kind}
                start["start_time"] = rfc3339(state.started_at) or ""
                yield [FeedEvent(start, name="run_start")]
            if chunks:
                yield self._lines(run, chunks)
            if len(chunks) < PAGE:
                break
        if state is None or state.ended:
            if state is not None:
                end: dict[str, Any] = {"run_id": run.ref.id, "status": ui_status(state.status)}
                end |= {"exit_code": state.api_exit_code, "end_time": rfc3339(state.ended_at)}
                yield [FeedEvent(end, name="run_end")]
            del self.following[run.ref.id]
            self.ended.add(run.ref.id)
            assert self.subscription is not None
            await self.subscription.discard(run_group(run.ref.id))

    def _lines(self, run: _FollowedRun, chunks: list[Chunk]) -> Batch:
        return [
            FeedEvent(
                {
                    "run_id": run.ref.id,
                    "stream": c.stream,
                    "line": line,
                    "timestamp": c.timestamp,
                    **self.ids,
                },
                name="log",
                id=f"{run.ref.id}:{c.seq}:{index}",
            )
            for c in chunks
            for index, line in run.log.numbered(c)
        ]


@csrf_exempt  # GET only: anything else is a 405 from the view
async def task_runs_stream(request: HttpRequest, project_id: str, task_id: str) -> HttpResponseBase:
    if refusal := refused(request, project_id=project_id, task_id=task_id):
        return refusal
    cursor = cursor_param(request, "after")
    match = TASK_LOG_CURSOR.match(cursor or "")
    if cursor and not match:
        return error_json(400, f"invalid cursor {cursor!r}: expected <run_id>:<seq>:<line>")
    task_pk = await db(_task_pk, project_id, task_id)
    if task_pk is None:
        return error_json(404, f"task {task_id!r} not found in project {project_id!r}")
    run_seq_line = (match[1], int(match[2]), int(match[3])) if match else None
    return sse_response(TaskRunsFeed(task_pk, project_id, task_id, run_seq_line))
