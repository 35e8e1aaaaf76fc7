"""`GET /api/v1/attempts/{id}/commit-info` and `commit-compare` on a real repository and
worktree (runs/commits.py), with hostile `sha` values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import Project
from runs.models import Attempt
from tasks.models import Task
from tests.helpers import assert_error, attempt_with_commits, commit_on, git_cli


@pytest.fixture
def attempt(project: Project, git_repo: Path) -> Attempt:
    task = Task.objects.create(
        project=project, task_id="greet", title="Greet", prompt="greet", agent_type="shell"
    )
    git_cli(git_repo, "checkout", "-q", "-b", "elsewhere")  # main is free for commit_on
    return attempt_with_commits(task, [{"a.txt": "a\n"}, {"a.txt": "b\n"}, {"c.txt": "c\n"}])


def _get(api: APIClient, attempt: Attempt, route: str, sha: str) -> Any:
    return api.get(f"/api/v1/attempts/{attempt.id}/{route}", {"sha": sha})


def test_commit_info_answers_subject_body_author_date_and_parents(
    attempt: Attempt, api: APIClient
) -> None:
    path = attempt.worktree_path
    first, second = git_cli(path, "rev-parse", "HEAD~2", "HEAD~1").split()

    response = _get(api, attempt, "commit-info", second[:7])

    info = response.json()
    assert response.status_code == 200, info
    assert (info["sha"], info["parents"]) == (second, [first])
    assert (info["subject"], info["body"]) == ("Step 2", "by the agent")
    author = git_cli(path, "log", "-1", "--format=%an%n%ae%n%aI", second).split("\n")
    assert [info["author_name"], info["author_email"]] == author[:2]
    assert info["date"].endswith("Z")


def test_commit_compare_counts_ahead_and_behind_head(
    attempt: Attempt, api: APIClient, git_repo: Path
) -> None:
    path = attempt.worktree_path
    head, first = git_cli(path, "rev-parse", "HEAD", "HEAD~2").split()
    moved = commit_on(git_repo, "main", {"m.txt": "m\n"})

    older = _get(api, attempt, "commit-compare", first).json()
    elsewhere = _get(api, attempt, "commit-compare", moved).json()

    assert older == {
        "sha": first,
        "head_commit": head,
        "commits_ahead": 2,
        "commits_behind": 0,
        "is_ancestor": True,
    }
    assert (elsewhere["commits_ahead"], elsewhere["commits_behind"]) == (3, 1)
    assert elsewhere["is_ancestor"] is False


def test_a_ref_must_be_in_the_attempt_history_and_a_sha_never_an_option(
    attempt: Attempt, api: APIClient, git_repo: Path
) -> None:
    git_cli(git_repo, "branch", "older", f"{attempt.branch}~1")
    commit_on(git_repo, "main", {"m.txt": "m\n"})
    git_cli(git_repo, "branch", "other", "main")
    assert _get(api, attempt, "commit-info", "older").json()["subject"] == "Step 2"
    for route in ("commit-info", "commit-compare"):
        for bad in ("", "--all", "-p", "HEAD~1", "main..older", "@{-1}", "a b", "x" * 300):
            assert_error(_get(api, attempt, route, bad), 400, "BAD_REQUEST")
        assert_error(_get(api, attempt, route, "other"), 404, "NOT_FOUND")
        assert_error(_get(api, attempt, route, "0" * 40), 404, "NOT_FOUND")
        unknown = api.get(f"/api/v1/attempts/nope/{route}", {"sha": "abcd"})
        assert_error(unknown, 404, "NOT_FOUND")
