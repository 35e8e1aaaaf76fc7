"""What several test modules share: assertions (the one error shape, WebSocket refusals), the
real git CLI and repositories with commits, log and WebSocket clients."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conductor_site.errors import CODES
from conductor_site.live.events import LogChunk

# A real HTTP server on a free port, on every address, serving the folder it runs in; it
# prints where, as dev servers do.
DEV_SERVER_SCRIPT = (
    f'exec {sys.executable} -u -c "import http.server as h; '
    "s = h.ThreadingHTTPServer(('0.0.0.0', 0), h.SimpleHTTPRequestHandler); "
    "print(f'Serving on http://0.0.0.0:{s.server_port}/ (press Ctrl-C)'); "
    's.serve_forever()"'
)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the one error shape with this status and code; returns its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = response.json()
    assert set(body) == {"error", "code", "details"}
    assert isinstance(body["error"], str) and body["error"]
    assert body["code"] == code
    assert isinstance(body["details"], dict), body
    return dict(body)


def log_chunk_event(run_id: str, seq: int, text: str = "line\n") -> LogChunk:
    """A typed `log.chunk` live event, as the log writer publishes it."""
    return {
        "type": "log.chunk",
        "run_id": run_id,
        "seq": seq,
        "stream": "stdout",
        "text": text,
        "lines": text.count("\n"),
        "timestamp": "2026-12-01T00:00:00+00:00",
    }


def recorded_task_change(project_id: str, task_id: str, change: Any = "created") -> int:
    """A `task.changed` event recorded in the event log (not published); its id."""
    from conductor_site.live.history import record

    event: Any = {
        "type": "task.changed",
        "change": change,
        "project_id": project_id,
        "task_id": task_id,
        "column": "todo",
    }
    return record(event, []).id


def ws_log_lines(frames: list[dict[str, Any]]) -> list[str]:
    """The lines of `/ws/runs/<r>/logs/` frames (a stored chunk's `text` per `log` frame)."""
    return [line for f in frames if f["type"] == "log" for line in f["text"].split("\n")[:-1]]


def tree_fingerprint(folder: Path) -> dict[str, str]:
    """Every file and symlink under `folder` outside `.git`, by path: a hash of its bytes (or
    link target) and its mode, so 'left byte-for-byte untouched' is one comparison."""
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if relative.parts[0] == ".git" or (path.is_dir() and not path.is_symlink()):
            continue
        data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        found[str(relative)] = f"{hashlib.sha256(data).hexdigest()} {path.lstat().st_mode:o}"
    return found


def worktree_state(folder: Path) -> tuple[str, str, dict[str, str]]:
    """What a user sees of a working tree: `git status`, its HEAD, and its files' bytes."""
    status = git_cli(
        folder, "--no-optional-locks", "status", "--porcelain", "--untracked-files=all", "--ignored"
    )
    return status, git_cli(folder, "rev-parse", "HEAD"), tree_fingerprint(folder)


def git_cli(repo: Path | str, *args: str) -> str:
    """The real git CLI, independent of the code under test."""
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def attempt_with_commits(
    task: Any, commits: list[dict[str, str]], *, summary: str = "", target: str = "main"
) -> Any:
    """A finished attempt on `task` whose worktree branch, made from `target`, has one commit
    per dict of files (path → text); its agent run's final message is `summary`."""
    from projects import git, storage
    from runs.models import Attempt, Run, RunStatus

    repo = task.project.project_root
    attempt = Attempt.objects.create(task=task, agent="shell", status=RunStatus.SUCCESS)
    branch = f"conductor/{attempt.short_id}"
    path = Path(repo).parent / "worktrees" / attempt.short_id
    base = git.worktree_add(repo, path, branch, target)
    for number, files in enumerate(commits, 1):
        for name, text in files.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_text(text)
        git.commit_all(path, f"Step {number}\n\nby the agent\n", repo=repo)
    run = Run.objects.create(attempt=attempt, kind=Run.Kind.AGENT, status=RunStatus.SUCCESS)
    if summary:
        storage.file_write(
            storage.run_dir(task.project_id, task.task_id, run.id) / "output.md", summary
        )
    Attempt.objects.filter(id=attempt.id).update(
        worktree_path=str(path),
        branch=branch,
        base_branch=target,
        target_branch=target,
        base_commit=base,
    )
    attempt.refresh_from_db()
    return attempt


def commit_on(repo: Path, branch: str, files: dict[str, str], message: str = "moved") -> str:
    """A commit on `branch` made without touching any working tree (someone else's push)."""
    scratch = repo.parent / f"scratch-{branch}"
    git_cli(repo, "worktree", "add", "-q", str(scratch), branch)
    for name, text in files.items():
        (scratch / name).write_text(text)
    git_cli(scratch, "add", "--all")
    git_cli(scratch, "commit", "-qm", message)
    git_cli(repo, "worktree", "remove", str(scratch))
    return git_cli(repo, "rev-parse", branch).strip()


def parents(repo: Path, commit: str) -> list[str]:
    return git_cli(repo, "rev-list", "--parents", "-n1", commit).split()[1:]


# WebSocket clients on the ASGI application (`channels.testing.WebsocketCommunicator`).

WS_TIMEOUT = 10


def publish_here() -> None:
    """Publish on the loop this test runs, as the embedded server's producers publish on its
    loop (the in-memory layer lives there); with the `ws_layer` fixture, which restores it."""
    from conductor_site.live import publish

    publish.set_loop(asyncio.get_running_loop())


class Ws:
    """One WebSocket connection to the ASGI application, read frame by frame."""

    def __init__(self, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        from channels.testing import WebsocketCommunicator

        from conductor_site.asgi import application

        self.client = WebsocketCommunicator(application, path, headers=headers or [])
        self.code: int | None = None
        self.reason = ""

    async def __aenter__(self) -> Ws:
        connected, _ = await self.client.connect(WS_TIMEOUT)
        assert connected
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.code is None:
            await self.client.disconnect()

    async def frame(self) -> dict[str, Any] | None:
        """The next frame; None once the server closed (its close code in `code`)."""
        message = await self.client.receive_output(WS_TIMEOUT)
        if message["type"] == "websocket.close":
            self.code, self.reason = message.get("code", 1000), message.get("reason", "")
            return None
        return dict(json.loads(message["text"]))

    async def until(self, done: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Frames up to the first `done` holds for, or to the close."""
        frames: list[dict[str, Any]] = []
        while (frame := await self.frame()) is not None:
            frames.append(frame)
            if done(frame):
                break
        return frames

    async def rest(self) -> list[dict[str, Any]]:
        """Every frame until the server closes."""
        return await self.until(lambda frame: False)


def ws_session(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> tuple[list, int]:
    """Connect, read every frame until the server closes: (frames, close code)."""

    async def session() -> tuple[list[dict[str, Any]], int]:
        async with Ws(path, headers) as ws:
            frames = await ws.rest()
        assert ws.code is not None
        return frames, ws.code

    return asyncio.run(session())


def ws_refused(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> int:
    """The connection is refused: one `error` frame in the house shape, then the close; its
    close code (4000 + the HTTP status of the error)."""
    frames, code = ws_session(path, headers)
    return refusal_code(frames, code)


def refusal_code(frames: list[dict[str, Any]], code: int | None) -> int:
    (frame,) = frames
    assert set(frame) == {"type", "error", "code", "details"}, frame
    assert frame["type"] == "error" and isinstance(frame["error"], str) and frame["error"]
    assert code is not None and frame["code"] == CODES[code - 4000], (frame, code)
    return code
