"""`/api/v1/attempts` in embedded mode: real attempts in real worktrees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects import git
from projects.models import AgentProfile, Project
from runs.models import Attempt
from tests.conftest import attempt_finished, create_task, log_text, run_finished, wait_for
from tests.helpers import assert_error, git_cli


def finished_attempt(api: APIClient, task_id: str = "t1", **fields: Any) -> Attempt:
    fields.setdefault("prompt", "Greet\nwrite hello.txt hello\nsummary Add hello")
    created = create_task(api, task_id=task_id, agent_type="fake-claude", **fields)
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)
    assert attempt.status == "success", attempt.error_summary
    return attempt


@pytest.fixture
def attempt(work: str, api: APIClient, project: Project, fake_claude: AgentProfile) -> Attempt:
    return finished_attempt(api)


def test_the_list_is_paged_newest_first_and_filtered_by_task(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile
) -> None:
    first = finished_attempt(api, "t1")
    second = finished_attempt(api, "t2")
    third = finished_attempt(api, "t1", attach_mode="attach")

    page = api.get("/api/v1/attempts", {"project_id": "demo", "limit": "2"}).json()
    of_t1 = api.get("/api/v1/attempts", {"project_id": "demo", "task_id": "t1"}).json()

    assert [a["attempt_id"] for a in page["items"]] == [third.id, second.id]
    assert (page["total"], page["limit"], page["offset"], page["has_more"]) == (3, 2, 0, True)
    assert [a["attempt_id"] for a in of_t1["items"]] == [third.id, first.id]
    assert api.get("/api/v1/attempts", {"project_id": "other"}).json()["total"] == 0
    # The Conductor Loop task detail lists them too (its clients ignore fields they do not know).
    detail = api.get("/api/projects/demo/tasks/t1").json()
    assert detail["attempt_ids"] == [third.id, first.id]


def test_the_detail_has_the_branch_worktree_worker_and_runs(
    attempt: Attempt, api: APIClient, git_repo: Path
) -> None:
    body = api.get(f"/api/v1/attempts/{attempt.id}").json()

    assert body["attempt_id"] == attempt.id
    assert (body["project_id"], body["task_id"], body["status"]) == ("demo", "t1", "success")
    assert body["branch"] == attempt.branch and body["branch"].startswith("conductor/")
    assert (body["base_branch"], body["target_branch"]) == ("main", "main")
    assert body["base_commit"] == git_cli(git_repo, "rev-parse", "main").strip()
    assert body["worktree_path"] == attempt.worktree_path
    assert body["worker"] == attempt.worker != ""
    assert body["created_at"].endswith("Z")
    (run,) = body["runs"]
    assert (run["kind"], run["status"], run["exit_code"]) == ("agent", "success", 0)
    assert run["head_after"] == git_cli(git_repo, "rev-parse", attempt.branch).strip()


def test_runs_lists_every_kind_of_execution_process(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile
) -> None:
    project.setup_script = "echo setup"
    project.cleanup_script = "echo cleanup"
    project.save()
    attempt = finished_attempt(api)

    runs = api.get(f"/api/v1/attempts/{attempt.id}/runs").json()["runs"]

    assert [(r["kind"], r["status"]) for r in runs] == [
        ("setup", "success"),
        ("agent", "success"),
        ("cleanup", "success"),
    ]


def test_bad_and_unknown_ids_are_400_and_404(db: None, api: APIClient) -> None:
    assert_error(api.get("/api/v1/attempts/bad.id"), 400, "BAD_REQUEST")
    assert_error(api.get("/api/v1/attempts/no-such/diff"), 404, "NOT_FOUND")
    assert_error(api.get("/api/v1/attempts/no-such/branch-status"), 404, "NOT_FOUND")
    assert_error(api.post("/api/v1/attempts/no-such/stop"), 404, "NOT_FOUND")
    assert_error(api.get("/api/v1/attempts", {"task_id": "a b"}), 400, "BAD_REQUEST")
    assert_error(api.get("/api/v1/attempts", {"limit": "0"}), 400, "BAD_REQUEST")


def test_the_diff_is_the_worktree_as_it_is_now(attempt: Attempt, api: APIClient) -> None:
    (Path(attempt.worktree_path) / "notes.txt").write_text("uncommitted\n")

    body = api.get(f"/api/v1/attempts/{attempt.id}/diff").json()
    stats = api.get(f"/api/v1/attempts/{attempt.id}/diff", {"stats_only": "true"}).json()

    assert (body["source"], body["attempt_id"]) == ("worktree", attempt.id)
    assert {f["new_path"]: f["new_content"] for f in body["files"]} == {
        "hello.txt": "hello\n",
        "notes.txt": "uncommitted\n",
    }
    assert body["totals"] == {"files": 2, "additions": 2, "deletions": 0}
    assert stats["stats_only"] is True
    assert all("new_content" not in f for f in stats["files"])
    bad = api.get(f"/api/v1/attempts/{attempt.id}/diff", {"stats_only": "maybe"})
    assert_error(bad, 400, "BAD_REQUEST")


def test_without_its_worktree_the_diff_is_the_stored_snapshot_and_says_so(
    attempt: Attempt, api: APIClient, git_repo: Path
) -> None:
    git.worktree_remove(git_repo, attempt.worktree_path)

    body = api.get(f"/api/v1/attempts/{attempt.id}/diff").json()

    assert body["source"] == "snapshot"
    assert "no longer the git worktree" in body["stale_reason"]
    assert [(f["new_path"], f["new_content"]) for f in body["files"]] == [("hello.txt", "hello\n")]


def test_an_attempt_without_a_repository_has_no_diff_or_branch_status(
    work: str, api: APIClient, db: None
) -> None:
    created = create_task(api, project_id="plain", prompt="true")
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)

    assert_error(api.get(f"/api/v1/attempts/{attempt.id}/diff"), 409, "CONFLICT")
    assert_error(api.get(f"/api/v1/attempts/{attempt.id}/branch-status"), 409, "CONFLICT")


def test_branch_status_counts_the_agents_commit(
    attempt: Attempt, api: APIClient, git_repo: Path
) -> None:
    (git_repo / "main.txt").write_text("moved on\n")
    git_cli(git_repo, "add", ".")
    git_cli(git_repo, "commit", "-qm", "main moves on")

    body = api.get(f"/api/v1/attempts/{attempt.id}/branch-status").json()

    assert (body["commits_ahead"], body["commits_behind"], body["target_moved"]) == (1, 1, True)
    assert body["head_commit"] == git_cli(git_repo, "rev-parse", attempt.branch).strip()
    assert (body["uncommitted_count"], body["operation_in_progress"]) == (0, None)


def test_a_git_failure_is_a_409_with_gits_words(attempt: Attempt, api: APIClient) -> None:
    Attempt.objects.filter(id=attempt.id).update(target_branch="gone-branch")

    body = assert_error(api.get(f"/api/v1/attempts/{attempt.id}/branch-status"), 409, "CONFLICT")

    assert "gone-branch" in body["error"]


def test_stop_ends_what_the_attempt_runs(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile
) -> None:
    created = create_task(api, agent_type="fake-claude", prompt="hang")
    wait_for(lambda: "hanging" in log_text(created["run_id"]), 60, "the agent to start")
    attempt_id = Attempt.objects.get(runs__id=created["run_id"]).id

    response = api.post(f"/api/v1/attempts/{attempt_id}/stop")

    body = response.json()
    assert response.status_code == 200, body
    assert body["stopped_run_ids"] == [created["run_id"]]
    assert attempt_finished(attempt_id).status == "stopped"
    assert run_finished(created["run_id"]).status == "stopped"
