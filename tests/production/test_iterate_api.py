"""Retry and delete-file through a real production-mode `conductor serve`: both run on the
real `conductor worker` that owns the attempt (runs/iterate.py through runs/owner.py), and the
retry's new run goes to that worker's queue."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs.models import Run
from tests.conftest import attempt_finished, create_task, run_finished
from tests.helpers import git_cli
from tests.processes import ConductorProcess, Server

pytestmark = pytest.mark.production


def test_delete_file_and_retry_run_on_the_owning_worker(
    start_worker: Callable[..., ConductorProcess],
    start_server: Callable[..., Server],
    api: APIClient,
    project: Project,
    fake_claude: AgentProfile,
    git_repo: Path,
) -> None:
    worker = start_worker()
    prompt = "write one.txt one\nwrite two.txt two\nsummary One"
    first = run_finished(create_task(api, agent_type="fake-claude", prompt=prompt)["run_id"])
    attempt = attempt_finished(first.attempt_id)
    assert (attempt.status, attempt.worker) == ("success", worker.name)  # type: ignore[attr-defined]
    server = start_server()

    status, body = server.request(
        "POST", f"/api/v1/attempts/{attempt.id}/delete-file", {"path": "two.txt"}
    )

    assert status == 200, body
    assert git_cli(git_repo, "log", "-1", "--format=%s", attempt.branch).strip() == "Delete two.txt"
    assert not (Path(attempt.worktree_path) / "two.txt").exists()
    status, refused = server.request(
        "POST", f"/api/v1/attempts/{attempt.id}/delete-file", {"path": "../README.md"}
    )
    assert (status, refused["code"]) == (400, "BAD_REQUEST")
    assert (git_repo / "README.md").exists()

    status, body = server.request(
        "POST", f"/api/v1/attempts/{attempt.id}/retry", {"run_id": first.id, "prompt": "summary 2"}
    )

    assert status == 200, body
    new = run_finished(body["retried"]["run_id"])
    assert (new.status, new.worker) == ("success", worker.name)  # type: ignore[attr-defined]
    assert Run.objects.get(id=first.id).dropped_at is not None
    assert git_cli(git_repo, "rev-parse", attempt.branch).strip() == attempt.base_commit
    attempt_finished(attempt.id)
