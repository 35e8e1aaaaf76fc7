"""Operations on a worktree run on the worker that owns it: the test process is the API
process, a real `conductor worker` owns the attempt (runs/owner.py)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs import owner
from runs.models import Attempt, Worker
from runs.owner import OwnerRefused, OwnerUnavailable, on_owner
from tests.conftest import attempt_finished, create_task, run_finished
from tests.processes import ConductorProcess, Server

pytestmark = pytest.mark.production


@pytest.fixture
def owned(
    start_worker: Callable[..., ConductorProcess],
    api: APIClient,
    project: Project,
    fake_claude: AgentProfile,
) -> tuple[ConductorProcess, Attempt]:
    worker = start_worker()
    created = create_task(
        api, agent_type="fake-claude", prompt="Greet\nwrite hello.txt hello\nsummary Hi"
    )
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)
    assert attempt.status == "success", attempt.error_summary
    return worker, Attempt.objects.select_related("task__project").get(id=attempt.id)


def test_the_owner_computes_the_diff_of_the_worktree_as_it_is_now(
    owned: tuple[ConductorProcess, Attempt],
) -> None:
    worker, attempt = owned
    (Path(attempt.worktree_path) / "after.txt").write_text("written after the run\n")

    diff = on_owner(attempt, "diff")

    assert attempt.worker == worker.name  # type: ignore[attr-defined]
    assert diff["source"] == "worktree"
    assert {f["new_path"]: f["new_content"] for f in diff["files"]} == {
        "after.txt": "written after the run\n",
        "hello.txt": "hello\n",
    }
    stats = on_owner(attempt, "diff", stats_only=True)
    assert "new_content" not in stats["files"][0]


def test_the_owner_reads_the_branch_status(owned: tuple[ConductorProcess, Attempt]) -> None:
    _, attempt = owned

    status = on_owner(attempt, "branch_status")

    assert (status["commits_ahead"], status["commits_behind"]) == (1, 0)
    assert status["branch"] == attempt.branch


def test_a_refusal_on_the_owner_comes_back_with_its_status_and_message(
    owned: tuple[ConductorProcess, Attempt],
) -> None:
    _, attempt = owned
    Attempt.objects.filter(id=attempt.id).update(target_branch="no-such-branch")
    attempt.refresh_from_db()

    with pytest.raises(OwnerRefused, match="no-such-branch") as refused:
        on_owner(attempt, "branch_status")

    assert refused.value.status_code == 409


def test_an_owner_that_stopped_heartbeating_is_not_waited_for(
    transactional_db: None, project: Project, settings: Any
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "OWNER_TIMEOUT_SECONDS": 600}
    Worker.objects.create(name="gone", heartbeat_at=timezone.now() - timedelta(hours=1))
    task = project.tasks.create(task_id="t1", prompt="p", agent_type="shell")
    attempt = Attempt.objects.create(task=task, agent="shell", worker="gone", branch="b")

    with pytest.raises(OwnerUnavailable, match="conductor worker --name gone"):
        on_owner(attempt, "diff")


def test_a_hung_owner_is_waited_for_only_so_long(
    owned: tuple[ConductorProcess, Attempt], settings: Any
) -> None:
    worker, attempt = owned
    settings.CONDUCTOR = {**settings.CONDUCTOR, "OWNER_TIMEOUT_SECONDS": 1.0}
    os.kill(worker.popen.pid, signal.SIGSTOP)
    try:
        with pytest.raises(OwnerUnavailable, match="did not answer within 1s") as unavailable:
            on_owner(attempt, "diff")
    finally:
        os.kill(worker.popen.pid, signal.SIGCONT)

    assert unavailable.value.status_code == 503


def test_the_server_answers_diff_and_branch_status_through_the_owner(
    owned: tuple[ConductorProcess, Attempt], start_server: Callable[..., Server]
) -> None:
    worker, attempt = owned
    server = start_server()
    (Path(attempt.worktree_path) / "later.txt").write_text("after the run\n")

    status, diff = server.request("GET", f"/api/v1/attempts/{attempt.id}/diff")
    _, branch = server.request("GET", f"/api/v1/attempts/{attempt.id}/branch-status")

    assert status == 200, diff
    assert diff["source"] == "worktree"
    assert sorted(f["new_path"] for f in diff["files"]) == ["hello.txt", "later.txt"]
    assert (branch["commits_ahead"], branch["untracked_count"]) == (1, 1)

    # With its owner gone, the diff is the snapshot stored when the run ended, and says so.
    worker.terminate()
    Worker.objects.filter(name=attempt.worker).update(
        heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    status, stored = server.request("GET", f"/api/v1/attempts/{attempt.id}/diff")
    status_code, refused = server.request("GET", f"/api/v1/attempts/{attempt.id}/branch-status")

    assert status == 200, stored
    assert stored["source"] == "snapshot" and "is not running" in stored["stale_reason"]
    assert [f["new_path"] for f in stored["files"]] == ["hello.txt"]
    assert (status_code, refused["code"]) == (503, "UNAVAILABLE")


def test_an_unreachable_redis_is_a_503_not_a_500(
    owned: tuple[ConductorProcess, Attempt], settings: Any
) -> None:
    _, attempt = owned
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    owner._redis.cache_clear()
    try:
        with pytest.raises(OwnerUnavailable, match="cannot reach the worker") as unavailable:
            on_owner(attempt, "branch_status")
    finally:
        owner._redis.cache_clear()

    assert unavailable.value.status_code == 503
