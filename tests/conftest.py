"""Shared fixtures: real git repositories, the real embedded worker, a fake agent."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs.models import ACTIVE_STATUSES, TERMINAL_STATUSES, Attempt, LogChunk, Run, RunStatus
from runs.services import run_stop
from tests.helpers import git_cli

FIXTURES = Path(__file__).parent / "fixtures"
FAKE_AGENT = FIXTURES / "fake_agent.py"


def skip_unless_available(
    items: list[pytest.Item], folder: str, available: bool, required_by: str, reason: str
) -> None:
    """Skip the tests under `folder` with `reason` when what they need is missing, unless the
    environment variable `required_by` is set (as `.ci/run` does): then stop the run."""
    if available:
        return
    if os.getenv(required_by):
        raise pytest.UsageError(f"{required_by} is set but {reason}")
    for item in items:
        if folder in str(item.path):
            item.add_marker(pytest.mark.skip(reason=reason))


def wait_for(condition: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    """Poll until `condition()` is truthy: awaiting an outcome, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def run_finished(run_id: str, timeout: float = 60) -> Run:
    def finished() -> Run | None:
        run = Run.objects.select_related("attempt").get(id=run_id)
        return run if run.status in TERMINAL_STATUSES else None

    return wait_for(finished, timeout, f"run {run_id} to finish")


def attempt_finished(attempt_id: str, timeout: float = 60) -> Attempt:
    def finished() -> Attempt | None:
        attempt = Attempt.objects.get(id=attempt_id)
        return attempt if attempt.status in TERMINAL_STATUSES else None

    return wait_for(finished, timeout, f"attempt {attempt_id} to finish")


def log_text(run_id: str, stream: str | None = None) -> str:
    chunks = LogChunk.objects.filter(run_id=run_id).order_by("seq")
    if stream:
        chunks = chunks.filter(stream=stream)
    return "".join(chunks.values_list("text", flat=True))


@pytest.fixture(autouse=True)
def data_dir(settings: Any, tmp_path: Path) -> Path:
    """Each test gets its own data dir (task folders, DONE markers, audit log)."""
    path = tmp_path / "data"
    path.mkdir()
    settings.DATA_DIR = path
    return path


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git_cli(repo, "init", "-q", "-b", "main")
    git_cli(repo, "config", "user.email", "dev@example.com")
    git_cli(repo, "config", "user.name", "Dev")
    (repo / "README.md").write_text("# demo\n")
    git_cli(repo, "add", ".")
    git_cli(repo, "commit", "-qm", "initial")
    return repo


@pytest.fixture(scope="session")
def embedded_worker(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    """The same in-process Celery worker `conductor serve` runs, on the test database."""
    from conductor_site.embedded import start_embedded_worker
    from runs.supervisor import supervisor
    from tasks import drain

    with django_db_blocker.unblock():
        worker, thread = start_embedded_worker(supervisor().name)
        supervisor().start()
        drain.start_watcher()
    yield supervisor().name
    supervisor().shutdown()
    worker.stop()
    thread.join(10)


@pytest.fixture
def work(embedded_worker: str, transactional_db: None) -> Iterator[str]:
    """Tests that run real attempts: committed data and a live worker. Afterwards the
    admitted attempts are stopped and awaited, so none writes into the next test's data."""
    yield embedded_worker
    for run in Run.objects.filter(status=RunStatus.RUNNING):
        run_stop(run)
    admitted = Attempt.objects.filter(admitted_at__isnull=False, status__in=ACTIVE_STATUSES)
    wait_for(lambda: not admitted.exists(), what="the test's attempts to end")


@pytest.fixture
def hang_guard(work: str, api: APIClient) -> Iterator[None]:
    """For tests whose agents hang until stopped: whatever a failed assertion leaves running,
    queued or waiting is stopped through the API and every attempt awaited, not left for
    later tests."""
    yield
    for run_id in Run.objects.filter(status__in=ACTIVE_STATUSES).values_list("id", flat=True):
        api.post(f"/api/v1/runs/{run_id}/stop")
    wait_for(
        lambda: not Attempt.objects.filter(status__in=ACTIVE_STATUSES).exists(),
        what="every attempt to end",
    )


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def fake_claude(db: None) -> AgentProfile:
    return AgentProfile.objects.create(
        name="fake-claude", agent_type="claude", command=f"{sys.executable} {FAKE_AGENT}"
    )


@pytest.fixture
def project(db: None, git_repo: Path) -> Project:
    return Project.objects.create(id="demo", project_root=str(git_repo))


def create_task(api: APIClient, **fields: Any) -> dict[str, Any]:
    body = {"project_id": "demo", "task_id": "t1", "agent_type": "shell", "prompt": "true"}
    body.update(fields)
    response = api.post("/api/v1/tasks", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def ws_layer(transactional_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh in-memory channel layer for a WebSocket test, and the publish seam's loop put
    back afterwards (a test hands it its own loop with `tests.helpers.publish_here`)."""
    from channels.layers import channel_layers

    from conductor_site.live import publish

    monkeypatch.setattr(publish, "_loop", None)
    monkeypatch.setattr(publish, "_server_loop", False)
    channel_layers.backends.pop("default", None)
    yield
    channel_layers.backends.pop("default", None)
