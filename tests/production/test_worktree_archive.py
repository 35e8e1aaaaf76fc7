"""Archiving runs on the worker that owns the worktree: the test process is the API process, a
real `conductor worker` made the worktree, measured it, and archives it (runs/archive.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs.models import Attempt
from tests.conftest import attempt_finished, create_task, run_finished
from tests.helpers import git_cli
from tests.processes import ConductorProcess

pytestmark = pytest.mark.production


def test_the_owning_worker_measures_and_archives_the_worktree(
    start_worker: Callable[..., ConductorProcess],
    api: APIClient,
    project: Project,
    fake_claude: AgentProfile,
) -> None:
    worker = start_worker()
    created = create_task(
        api, agent_type="fake-claude", prompt="Greet\nwrite hello.txt hello\nsummary Hi"
    )
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)
    assert attempt.worker == worker.name  # type: ignore[attr-defined]
    assert attempt.worktree_disk_bytes and attempt.worktree_measured_at  # by the worker
    (Path(attempt.worktree_path) / "left.txt").write_text("uncommitted\n")

    response = api.post(f"/api/v1/attempts/{attempt.id}/archive", format="json")

    assert response.status_code == 200, response.content
    assert response.json()["archived"]["wip_commit"]
    assert not Path(attempt.worktree_path).exists()
    assert git_cli(project.project_root, "show", f"{attempt.branch}:left.txt") == "uncommitted\n"
    assert Attempt.objects.get(id=attempt.id).worktree_archived_reason == "requested"
