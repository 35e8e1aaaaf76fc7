"""The owning worker's watch of a worktree (`runs.diffwatch`) and the diff stream's handling of
what it publishes (`runs.streams.attempt_diff`): a real worktree, the real notifier, the real
`publish()` onto a running loop and the in-memory channel layer; files written by the test."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from channels.layers import channel_layers, get_channel_layer
from pytest_django.fixtures import Settings

from conductor_site.live import publish
from conductor_site.live.events import DiffChanged, attempt_group
from projects import git
from projects.models import Project
from runs import diffwatch
from runs.models import Attempt, DiffSnapshot, Run, RunStatus
from runs.streams.attempt_diff import AttemptDiffFeed
from tests.conftest import wait_for
from tests.helpers import git_cli
from tests.projects.builders import make_run, make_task

TIMEOUT = 30.0


@pytest.fixture
def loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[asyncio.AbstractEventLoop]:
    """A running loop handed to `publish()` as the server's; put back afterwards."""
    channel_layers.backends.pop("default", None)
    monkeypatch.setattr(publish, "_loop", None)
    monkeypatch.setattr(publish, "_server_loop", False)
    running = asyncio.new_event_loop()
    publish.set_loop(running)
    threading.Thread(target=running.run_forever, daemon=True).start()
    wait_for(running.is_running, 10, "the loop to run")
    yield running
    running.call_soon_threadsafe(running.stop)
    wait_for(lambda: not running.is_running(), 10, "the loop to stop")
    running.close()
    channel_layers.backends.pop("default", None)


@pytest.fixture
def attempt(project: Project, git_repo: Path, tmp_path: Path) -> Attempt:
    (git_repo / ".gitignore").write_text("*.log\n")
    (git_repo / "old.txt").write_text("".join(f"line {n}\n" for n in range(20)))
    git_cli(git_repo, "add", ".")
    git_cli(git_repo, "commit", "-qm", "files")
    worktree = tmp_path / "worktrees" / "wt"
    git.worktree_add(git_repo, worktree, "conductor/wt", "main")
    run = make_run(make_task(project, "t1"), RunStatus.RUNNING)
    Attempt.objects.filter(id=run.attempt_id).update(
        worktree_path=str(worktree), target_branch="main"
    )
    return Attempt.objects.select_related("task__project").get(id=run.attempt_id)


class Changes:
    """The attempt group's `diff.changed` events, as a subscriber on the loop gets them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, attempt: Attempt) -> None:
        self.loop = loop
        self.layer = get_channel_layer()
        self.channel = self._on_loop(self.layer.new_channel())
        self._on_loop(self.layer.group_add(attempt_group(attempt.id), self.channel))

    def _on_loop(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT)

    def next(self) -> DiffChanged:
        event: DiffChanged = self._on_loop(self.layer.receive(self.channel))
        assert event["type"] == "diff.changed"
        return event

    def until(self, path: str) -> list[DiffChanged]:
        seen = [self.next()]
        while path not in seen[-1]["paths"]:
            seen.append(self.next())
        return seen


def agent_run(attempt: Attempt) -> Run:
    return Run.objects.get(attempt=attempt)


def test_only_changed_files_not_ignored_ones_are_published_in_order(
    loop: asyncio.AbstractEventLoop, attempt: Attempt, tmp_path: Path
) -> None:
    changes = Changes(loop, attempt)
    worktree = Path(attempt.worktree_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, worktree / "link")  # there when the watch starts: the notifier follows it
    with diffwatch.watching(attempt, agent_run(attempt), None):
        (worktree / "noise.log").write_text("ignored\n")
        (outside / "x.txt").write_text("not the worktree's\n")
        (worktree / "a.txt").write_text("a\n")
        first = changes.until("a.txt")
        (worktree / "old.txt").rename(worktree / "new.txt")
        moved = changes.until("new.txt")
        position = diffwatch.live_diff(attempt, stats_only=True)

    published = first + moved
    assert all("noise.log" not in e["paths"] for e in published)
    assert all(not p.startswith("link/") for e in published for p in e["paths"])
    assert [e["seq"] for e in published][-1] == position["seq"]
    assert first[-1]["files"][0]["new_content"] == "a\n"
    assert [(f["change"], f["old_path"], f["new_path"]) for f in moved[-1]["files"]] == [
        ("renamed", "old.txt", "new.txt")
    ]
    assert position["run_id"] == agent_run(attempt).id
    assert {f["new_path"] for f in position["diff"]["files"]} == {"a.txt", "link", "new.txt"}
    assert diffwatch.live_diff(attempt)["run_id"] is None  # the watch ended with the run


def test_too_many_paths_at_once_say_overflow(
    loop: asyncio.AbstractEventLoop, attempt: Attempt, settings: Settings
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "DIFF_WATCH_MAX_PATHS": 3}
    changes = Changes(loop, attempt)
    with diffwatch.watching(attempt, agent_run(attempt), None):
        for n in range(6):
            (Path(attempt.worktree_path) / f"f{n}.txt").write_text(f"{n}\n")
        event = changes.next()

    assert (event["overflow"], event["files"], event["paths"]) == (True, [], [])


def change(run: Run, seq: int, **fields: Any) -> DiffChanged:
    event: DiffChanged = {
        "type": "diff.changed",
        "attempt_id": run.attempt_id,
        "project_id": "demo",
        "task_id": "t1",
        "run_id": run.id,
        "seq": seq,
        "paths": ["a.txt"],
        "files": [{"change": "added", "old_path": None, "new_path": "a.txt", "new_content": "a"}],
        "head_commit": "",
        "base_commit": "",
        "overflow": False,
    }
    return {**event, **fields}  # type: ignore[typeddict-item]


def test_a_change_that_does_not_follow_on_sends_the_whole_diff_again(
    transactional_db: None, attempt: Attempt
) -> None:
    run = agent_run(attempt)
    (Path(attempt.worktree_path) / "seen.txt").write_text("s\n")

    async def frames(feed: AttemptDiffFeed, event: DiffChanged) -> list[Any]:
        return [e for batch in [b async for b in feed.live([event], False)] for e in batch]

    async def session() -> list[list[Any]]:
        feed = AttemptDiffFeed(attempt, stats_only=True)
        [replayed] = [batch async for batch in feed.replay()]
        return [
            replayed,
            await frames(feed, change(run, 1)),
            await frames(feed, change(run, 1)),  # a duplicate
            await frames(feed, change(run, 3)),  # 2 was lost
            await frames(feed, change(run, 2, overflow=True, files=[], paths=[])),
        ]

    with diffwatch.watching(attempt, run, None):
        replayed, follows, duplicate, gap, overflow = asyncio.run(session())

    assert [(e.data["type"], e.id) for e in replayed] == [
        ("snapshot", "s0"),
        ("snapshot", f"{run.id}:0"),
    ]
    assert replayed[1].data["diff"]["files"][0]["new_path"] == "seen.txt"
    assert [(e.data["type"], e.id) for e in follows] == [("files", f"{run.id}:1")]
    assert follows[0].data["files"] == [{"change": "added", "old_path": None, "new_path": "a.txt"}]
    assert duplicate == []
    assert [e.data["type"] for e in gap] == ["snapshot"]
    assert gap[0].data["diff"]["source"] == "worktree"
    assert [e.data["type"] for e in overflow] == ["snapshot"]


def test_after_a_runs_final_snapshot_its_late_changes_are_dropped_and_the_next_run_followed(
    transactional_db: None, attempt: Attempt
) -> None:
    first = agent_run(attempt)
    Run.objects.filter(id=first.id).update(status=RunStatus.SUCCESS)
    DiffSnapshot.objects.create(
        attempt=attempt, run=first, target_branch="main", base_commit="b", head_commit="h"
    )
    second = Run.objects.create(attempt=attempt, kind=Run.Kind.AGENT, status=RunStatus.CREATED)

    async def session() -> list[list[Any]]:
        feed = AttemptDiffFeed(attempt, stats_only=False)
        replayed = [e for batch in [b async for b in feed.replay()] for e in batch]
        late = [b async for b in feed.live([change(first, 7)], False)]
        taken = [b async for b in feed.live([change(second, 1)], False)]
        return [replayed, late, taken]

    replayed, late, taken = asyncio.run(session())

    assert [(e.data["type"], e.data["diff"]["source"]) for e in replayed] == [
        ("snapshot", "snapshot")
    ]
    assert late == []
    assert [(e.data["type"], e.id) for batch in taken for e in batch] == [
        ("files", f"{second.id}:1")
    ]
    assert taken[0][0].data["files"][0]["new_content"] == "a"
