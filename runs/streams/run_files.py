"""`GET /api/projects/<p>/tasks/<t>/runs/<r>/stream?name=F`: one file of a run, raw."""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from pathlib import Path

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from conductor_site.errors import error_json
from conductor_site.live.engine import Batch, FeedEvent, db
from conductor_site.live.events import LiveEvent, run_group
from conductor_site.live.sse import refused, sse_response
from conductor_site.live.subscription import Subscription
from projects import storage
from runs.files import RUN_FILES
from runs.models import Run
from runs.streams.run_reads import (
    PAGE,
    Chunk,
    RunLog,
    RunRef,
    run_changed,
    run_ref,
    run_state,
)

FILE_READ = 4 * 1024 * 1024


def _file_bytes(run_id: str, path: Path | None, offset: int) -> bytes:
    """The prompt (`path` None) or a file of the run folder, from byte `offset`."""
    if path is None:
        prompt = Run.objects.filter(id=run_id).values_list("prompt", flat=True).first()
        return (prompt or "").encode()[offset : offset + FILE_READ]
    return storage.file_read(path, offset=offset, size=FILE_READ) or b""


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

    def replay(self) -> AsyncIterator[Batch]:
        return self._catch_up()

    def resync(self) -> AsyncIterator[Batch]:
        return self._catch_up()

    async def live(self, messages: list[LiveEvent], lost: bool) -> AsyncIterator[Batch]:
        from_log = self.name in ("stdout", "stderr") and not lost and not run_changed(messages)
        chunks, gap = self.log.take(messages) if from_log else ([], True)
        if text := self._text(chunks):
            yield [FeedEvent(text)]
        if gap:
            async for batch in self._catch_up():
                yield batch

    async def _catch_up(self) -> AsyncIterator[Batch]:
        if self.name in ("stdout", "stderr"):
            while True:
                state, chunks = await self.log.read()
                if text := self._text(chunks):
                    yield [FeedEvent(text)]
                if len(chunks) < PAGE:
                    break
        else:
            state = await db(run_state, self.run.id)
            while data := await db(_file_bytes, self.run.id, self.path, self.sent_bytes):
                self.sent_bytes += len(data)
                if text := self.decoder.decode(data, final=False):
                    yield [FeedEvent(text)]
        if state is None or state.ended:
            ending = [FeedEvent(tail)] if (tail := self.decoder.decode(b"", final=True)) else []
            self.finished = True
            yield [*ending, FeedEvent("{}", name="done")]

    def _text(self, chunks: list[Chunk]) -> str:
        return "".join(chunk.text for chunk in chunks if chunk.stream == self.name)


@csrf_exempt  # GET only: anything else is a 405 from the view
async def run_file_stream(
    request: HttpRequest, project_id: str, task_id: str, run_id: str
) -> HttpResponseBase:
    if refusal := refused(request, project_id=project_id, task_id=task_id, run_id=run_id):
        return refusal
    name = request.GET.get("name", "")
    if name not in RUN_FILES:
        return error_json(400, f"unknown file {name!r}: use one of {', '.join(RUN_FILES)}")
    run = await db(run_ref, run_id)
    if run is None or (run.project_id, run.task_id) != (project_id, task_id):
        return error_json(404, f"run {run_id!r} not found in task {project_id}/{task_id}")
    return sse_response(RunFileFeed(run, name))
