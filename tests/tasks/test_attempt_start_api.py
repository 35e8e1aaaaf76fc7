"""`POST /api/v1/attempts` and an attempt's subtasks (`/children`): the planning half of the
attempts resource, with real attempts in real worktrees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs.models import Attempt
from tests.conftest import attempt_finished, create_task, run_finished
from tests.helpers import assert_error, git_cli


@pytest.fixture
def attempt(work: str, api: APIClient, project: Project, fake_claude: AgentProfile) -> Attempt:
    prompt = "Greet\nwrite hello.txt hello\nsummary Add hello"
    created = create_task(api, agent_type="fake-claude", prompt=prompt)
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)
    assert attempt.status == "success", attempt.error_summary
    return attempt


def test_post_starts_a_new_attempt_from_the_base_branch_it_names(
    attempt: Attempt, api: APIClient, git_repo: Path
) -> None:
    git_cli(git_repo, "branch", "release", "main")
    git_cli(git_repo, "checkout", "-q", "release")
    (git_repo / "release.txt").write_text("only on release\n")
    git_cli(git_repo, "add", ".")
    git_cli(git_repo, "commit", "-qm", "release only")
    git_cli(git_repo, "checkout", "-q", "main")
    body = {"project_id": "demo", "task_id": "t1", "base_branch": "release"}
    body["prompt"] = "Again\nwrite again.txt again\nsummary Again"

    response = api.post("/api/v1/attempts", body, format="json")

    created = response.json()
    assert response.status_code == 201, created
    assert created["attempt_id"] != attempt.id and created["agent"] == "fake-claude"
    assert (created["base_branch"], created["target_branch"]) == ("release", "release")
    second = attempt_finished(run_finished(created["run_id"]).attempt_id)
    assert (second.status, second.base_branch, second.target_branch) == (
        "success",
        "release",
        "release",
    )
    assert git_cli(git_repo, "show", f"{second.branch}:release.txt") == "only on release\n"
    assert git_cli(git_repo, "show", f"{second.branch}:again.txt") == "again\n"
    assert git_cli(git_repo, "branch", "--show-current").strip() == "main"


def test_post_refuses_what_it_cannot_start(attempt: Attempt, api: APIClient) -> None:
    def post(**body: Any) -> Any:
        return api.post("/api/v1/attempts", {"project_id": "demo", **body}, format="json")

    assert_error(post(task_id="nope"), 404, "NOT_FOUND")
    assert_error(post(task_id="t1", base_branch="no-such"), 400, "BAD_REQUEST")
    assert_error(post(task_id="t1", base_branch="--orphan"), 400, "BAD_REQUEST")
    assert_error(post(task_id="t1", agent="no-such-agent"), 400, "BAD_REQUEST")
    assert_error(post(task_id="bad id"), 400, "BAD_REQUEST")
    assert_error(api.post("/api/v1/attempts", [1], format="json"), 400, "BAD_REQUEST")
    assert Attempt.objects.count() == 1


def test_a_subtask_made_from_an_attempt_starts_from_its_branch(
    attempt: Attempt, api: APIClient, git_repo: Path
) -> None:
    body = {"task_id": "sub", "prompt": "Sub\nwrite sub.txt sub\nsummary Sub"}

    response = api.post(f"/api/v1/attempts/{attempt.id}/children", body, format="json")

    assert response.status_code == 201, response.content
    started = response.json()
    assert (started["project_id"], started["task_id"]) == ("demo", "sub")
    child = attempt_finished(run_finished(started["run_id"]).attempt_id)
    assert (child.status, child.base_branch) == ("success", attempt.branch)
    assert git_cli(git_repo, "show", f"{child.branch}:hello.txt") == "hello\n"
    assert git_cli(git_repo, "show", f"{child.branch}:sub.txt") == "sub\n"
    family = api.get(f"/api/v1/attempts/{attempt.id}/children").json()
    assert family["parent_task"]["task_id"] == "t1"
    assert family["current_attempt"]["attempt_id"] == attempt.id
    assert [t["task_id"] for t in family["children"]] == ["sub"]
    assert api.get(f"/api/v1/attempts/{child.id}/children").json()["children"] == []


def test_a_subtask_needs_a_branch_and_a_new_task_id(
    attempt: Attempt, api: APIClient, db: None
) -> None:
    def post(attempt_id: str, **body: Any) -> Any:
        url = f"/api/v1/attempts/{attempt_id}/children"
        return api.post(url, {"prompt": "true", **body}, format="json")

    assert_error(post(attempt.id, task_id="t1"), 409, "CONFLICT")
    assert_error(post(attempt.id, task_id="bad id"), 400, "BAD_REQUEST")
    assert_error(post("no-such", task_id="x"), 404, "NOT_FOUND")
    unstarted = Attempt.objects.create(task=attempt.task, agent="shell", status="failed")
    assert_error(post(unstarted.id, task_id="x"), 409, "CONFLICT")
