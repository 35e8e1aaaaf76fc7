"""Landing through a real production-mode `conductor serve`: the merge runs on the real
`conductor worker` that owns the attempt (runs/landing_api.py through runs/owner.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs.models import Attempt, Worker
from tasks.models import Task
from tests.conftest import attempt_finished, create_task, run_finished, wait_for
from tests.helpers import git_cli, parents
from tests.processes import ConductorProcess, Server

pytestmark = pytest.mark.production


def test_a_merge_through_the_server_runs_on_the_owning_worker(
    start_worker: Callable[..., ConductorProcess],
    start_server: Callable[..., Server],
    api: APIClient,
    project: Project,
    fake_claude: AgentProfile,
    git_repo: Path,
) -> None:
    worker = start_worker()
    created = create_task(
        api, agent_type="fake-claude", prompt="Greet\nwrite hello.txt hello\nsummary Hi"
    )
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)
    assert (attempt.status, attempt.worker) == ("success", worker.name)  # type: ignore[attr-defined]
    server = start_server()
    old = git_cli(git_repo, "rev-parse", "main").strip()
    merge = f"/api/v1/attempts/{attempt.id}/merge"

    status, body = server.request("POST", merge, {"expected_target_commit": old})

    assert status == 200, body
    new = git_cli(git_repo, "rev-parse", "main").strip()
    assert (body["merged"]["commit"], body["merge_commit"]) == (new, new)
    assert parents(git_repo, new) == [old]
    assert body["merged"]["updated_worktree"] == str(git_repo)
    assert (git_repo / "hello.txt").read_text() == "hello\n"
    assert git_cli(git_repo, "status", "--porcelain") == ""
    assert Task.objects.get(id=attempt.task_id).column == Task.Column.DONE

    # The worktree is archived after the merge (its owner holds the attempt meanwhile: busy).
    wait_for(
        lambda: Attempt.objects.get(id=attempt.id).worktree_archived_at is not None,
        60,
        "the worktree to be archived after the merge",
    )
    # The owner's refusal comes back with its status and details.
    status, refused = server.request("POST", merge)
    assert (status, refused["details"]["reason"]) == (409, "nothing_to_merge")

    # With its owner gone the server does not touch the worktree itself: 503, naming it.
    worker.terminate()
    Worker.objects.filter(name=attempt.worker).update(
        heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    status, gone = server.request("POST", f"/api/v1/attempts/{attempt.id}/rebase")
    assert (status, gone["code"]) == (503, "UNAVAILABLE")
    assert f"conductor worker --name {attempt.worker}" in gone["error"]
