"""`/ws/attempts/<attempt_id>/diff/?stats_only=0|1`: an attempt's diff, live (the consumer is
in `runs.consumers`; frames in docs/api/streams.md).

First the latest stored snapshot (`snapshot`, stored so any server answers; its `diff` null
before a run has ended). While an agent run of the attempt runs, the whole diff as it is now,
from the worker that owns the worktree (`runs.diffwatch.live_diff`, through `on_owner`), then
each change the watch publishes (`files`: the entries at or under `paths` are replaced by
`files`). When a run ends its stored snapshot, then `done` once the attempt has nothing
running. The diff is a state, not a log: a change that does not follow on (lost by the lossy
channel layer, an overflow) sends the whole diff again rather than guess, and a reconnecting
client starts from the snapshot again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from conductor_site.errors import DomainError
from conductor_site.live.engine import Batch, FeedEvent, db
from conductor_site.live.events import DiffChanged, LiveEvent, attempt_group
from conductor_site.live.subscription import Subscription
from runs.diffs import snapshot_diff
from runs.models import ACTIVE_STATUSES, Attempt, DiffSnapshot, Run, RunStatus
from runs.owner import on_owner

log = logging.getLogger(__name__)

CONTENTS = ("old_content", "new_content")


@dataclass(frozen=True)
class DiffState:
    """What decides the stream's next frames; `exists` False once the attempt is deleted."""

    exists: bool
    active: bool
    agent_running: bool
    snapshot_id: int
    snapshot_run: str | None


def attempt_ref(attempt_id: str) -> Attempt | None:
    return Attempt.objects.select_related("task__project").filter(id=attempt_id).first()


def diff_state(attempt_id: str) -> DiffState:
    """The attempt's status THEN its latest snapshot: an ended attempt's snapshot is its last."""
    status = Attempt.objects.filter(id=attempt_id).values_list("status", flat=True).first()
    runs = Run.objects.filter(attempt_id=attempt_id, kind=Run.Kind.AGENT, status=RunStatus.RUNNING)
    snapshots = DiffSnapshot.objects.filter(attempt_id=attempt_id).order_by("-created_at", "-id")
    snapshot_id, run_id = snapshots.values_list("id", "run_id").first() or (0, None)
    return DiffState(
        exists=status is not None,
        active=status in ACTIVE_STATUSES,
        agent_running=runs.exists(),
        snapshot_id=snapshot_id,
        snapshot_run=run_id,
    )


def owner_diff(attempt_id: str, stats_only: bool) -> dict[str, Any] | None:
    """The whole diff now from the owner, with its watch position; None if it cannot say."""
    attempt = attempt_ref(attempt_id)
    if attempt is None:
        return None
    try:
        answer: dict[str, Any] = on_owner(attempt, "live_diff", stats_only=stats_only)
    except DomainError as exc:
        log.info("attempt %s: no live diff from its owner: %s", attempt_id, exc.message)
        return None
    return answer


class AttemptDiffFeed:
    """`snapshot` frames (cursor `s<id>` for a stored one, `<run>:<seq>` for one read from
    the worktree), `files` frames (cursor `<run>:<seq>`), and `done`."""

    def __init__(self, attempt: Attempt, stats_only: bool) -> None:
        self.groups = [attempt_group(attempt.id)]
        self.finished = False
        self.subscription: Subscription | None = None
        self.attempt = attempt
        self.stats_only = stats_only
        self.sent_snapshot = -1  # the stored snapshot sent last (0: "none yet")
        self.closed_runs: set[str] = set()  # runs whose final snapshot was sent
        self.run_id: str | None = None  # the position the client is at: a run's last change
        self.seq = 0
        self.placed = True  # False when the owner could not say: take the next change as is

    def replay(self) -> AsyncIterator[Batch]:
        return self._catch_up(whole=True)

    def resync(self) -> AsyncIterator[Batch]:
        return self._catch_up(whole=False)

    async def live(self, messages: list[LiveEvent], lost: bool) -> AsyncIterator[Batch]:
        if lost:
            async for batch in self._catch_up(whole=True):
                yield batch
            return
        frames: Batch = []
        check = False  # a doorbell rang: re-read the state before the next change
        for message in messages:
            if message["type"] in ("diff.stored", "attempt.changed"):
                check = True
            elif message["type"] == "diff.changed" and not self.finished:
                if check:
                    async for batch in self._flushed(frames, self._catch_up(whole=False)):
                        yield batch
                    frames, check = [], False
                frame = self._change(message)
                if frame is None:
                    async for batch in self._flushed(frames, self._catch_up(whole=True)):
                        yield batch
                    frames = []
                elif frame.data:
                    frames.append(frame)
        if check and not self.finished:
            async for batch in self._flushed(frames, self._catch_up(whole=False)):
                yield batch
        elif frames:
            yield frames

    async def _flushed(self, frames: Batch, then: AsyncIterator[Batch]) -> AsyncIterator[Batch]:
        if frames:
            yield frames
        async for batch in then:
            yield batch

    def _change(self, message: DiffChanged) -> FeedEvent | None:
        """The change's frame; an empty one to drop it (seen, or of a run already ended);
        None on a gap: the whole diff must be sent again."""
        run_id, seq = message["run_id"], message["seq"]
        if run_id in self.closed_runs or (run_id == self.run_id and seq <= self.seq):
            return FeedEvent({})
        follows = seq == (self.seq + 1 if run_id == self.run_id else 1)
        if (not follows and self.placed) or message["overflow"]:
            return None
        self.run_id, self.seq, self.placed = run_id, seq, True
        files = [self._shown(entry) for entry in message["files"]]
        frame = {"type": "files", "run_id": run_id, "paths": message["paths"], "files": files}
        frame |= {"head_commit": message["head_commit"], "base_commit": message["base_commit"]}
        return FeedEvent(frame, id=f"{run_id}:{seq}")

    def _shown(self, entry: dict[str, Any]) -> dict[str, Any]:
        if not self.stats_only:
            return entry
        return {key: value for key, value in entry.items() if key not in CONTENTS}

    async def _catch_up(self, whole: bool) -> AsyncIterator[Batch]:
        """A stored snapshot not sent yet; with `whole`, the diff now while an agent runs;
        `done` once the attempt has nothing running."""
        state = await db(diff_state, self.attempt.id)
        batch: Batch = []
        if state.snapshot_id != self.sent_snapshot:
            batch.append(await self._stored(state))
        if whole and state.agent_running:
            batch.extend(await self._whole())
        if not state.active:
            self.finished = True
            batch.append(FeedEvent({"type": "done"}))
        yield batch

    async def _stored(self, state: DiffState) -> FeedEvent:
        diff = None
        if state.snapshot_id:
            diff = await db(lambda: snapshot_diff(self.attempt, stats_only=self.stats_only))
        self.sent_snapshot = state.snapshot_id
        if state.snapshot_run:
            self.closed_runs.add(state.snapshot_run)
        return FeedEvent({"type": "snapshot", "diff": diff}, id=f"s{state.snapshot_id}")

    async def _whole(self) -> Batch:
        answer = await db(owner_diff, self.attempt.id, self.stats_only)
        if answer is None:
            self.placed = False
            return []
        self.run_id, self.seq, self.placed = answer["run_id"], answer["seq"], True
        cursor = f"{self.run_id}:{self.seq}" if self.run_id else f"s{self.sent_snapshot}"
        return [FeedEvent({"type": "snapshot", "diff": answer["diff"]}, id=cursor)]
