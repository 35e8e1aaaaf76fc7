"""`POST /api/v1/attempts/{id}/change-target-branch` and `rename-branch` on real repositories
and worktrees (runs/landing.py, through runs/landing_api.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import Project
from runs.models import Attempt, RunStatus
from tasks.models import Task
from tests.helpers import assert_error, attempt_with_commits, git_cli


@pytest.fixture
def attempt(project: Project, git_repo: Path) -> Attempt:
    task = Task.objects.create(
        project=project, task_id="greet", title="Greet", prompt="greet", agent_type="shell"
    )
    git_cli(git_repo, "branch", "release", "main")
    return attempt_with_commits(task, [{"hello.txt": "hello\n"}])


def _post(api: APIClient, attempt: Attempt, route: str, body: object) -> Any:
    return api.post(f"/api/v1/attempts/{attempt.id}/{route}", body, format="json")


def test_the_target_branch_changes_to_an_existing_branch(attempt: Attempt, api: APIClient) -> None:
    response = _post(api, attempt, "change-target-branch", {"target_branch": "release"})

    assert response.status_code == 200, response.content
    assert (response.json()["target_branch"], response.json()["base_branch"]) == (
        "release",
        "main",
    )
    attempt.refresh_from_db()
    assert attempt.target_branch == "release"


def test_the_target_branch_must_be_an_existing_valid_branch(
    attempt: Attempt, api: APIClient
) -> None:
    route = "change-target-branch"
    assert_error(_post(api, attempt, route, {"target_branch": "no-such"}), 400, "BAD_REQUEST")
    assert_error(_post(api, attempt, route, {"target_branch": "--orphan"}), 400, "BAD_REQUEST")
    assert_error(_post(api, attempt, route, {"target_branch": "main..x"}), 400, "BAD_REQUEST")
    assert_error(_post(api, attempt, route, {}), 400, "BAD_REQUEST")
    unknown = api.post(
        "/api/v1/attempts/nope/change-target-branch", {"target_branch": "main"}, format="json"
    )
    assert_error(unknown, 404, "NOT_FOUND")
    attempt.refresh_from_db()
    assert attempt.target_branch == "main"


def test_the_branch_is_renamed_and_its_worktree_follows(
    attempt: Attempt, api: APIClient, git_repo: Path
) -> None:
    old = attempt.branch

    response = _post(api, attempt, "rename-branch", {"branch": "feature/greeting"})

    assert response.status_code == 200, response.content
    assert response.json()["branch"] == "feature/greeting"
    attempt.refresh_from_db()
    assert attempt.branch == "feature/greeting"
    assert git_cli(git_repo, "branch", "--list", old) == ""
    assert git_cli(attempt.worktree_path, "branch", "--show-current").strip() == attempt.branch
    assert git_cli(git_repo, "show", "feature/greeting:hello.txt") == "hello\n"


def test_a_rename_is_refused_over_an_existing_branch_an_open_pr_or_a_run(
    attempt: Attempt, api: APIClient, git_repo: Path
) -> None:
    route = "rename-branch"
    refused = assert_error(_post(api, attempt, route, {"branch": "release"}), 409, "CONFLICT")
    assert refused["details"]["reason"] == "branch_exists"
    assert_error(_post(api, attempt, route, {"branch": "-D"}), 400, "BAD_REQUEST")
    assert_error(_post(api, attempt, route, {"branch": "a b"}), 400, "BAD_REQUEST")
    Attempt.objects.filter(id=attempt.id).update(pr_state="open", pr_url="https://x/pull/1")
    refused = assert_error(_post(api, attempt, route, {"branch": "new"}), 409, "CONFLICT")
    assert refused["details"]["reason"] == "pr_open"
    Attempt.objects.filter(id=attempt.id).update(pr_state="", status=RunStatus.RUNNING)
    refused = assert_error(_post(api, attempt, route, {"branch": "new"}), 409, "CONFLICT")
    assert refused["details"]["reason"] == "busy"
    assert git_cli(git_repo, "branch", "--list", "new") == ""
    assert Attempt.objects.get(id=attempt.id).branch == attempt.branch
