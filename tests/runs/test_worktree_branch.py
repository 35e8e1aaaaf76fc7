"""Conductor writes in an attempt's worktree only while it has the attempt's branch checked
out (runs/workspace.py `branch_check`): an agent that switched to another branch there (a new
one, or the user's `develop`) gets neither a retry's reset, a rebase, a file delete nor the
pipeline's commit on it. A rebase of the attempt's branch stopped on a conflict (HEAD
detached) can still be continued or aborted (tests/runs/test_landing_rebase.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from projects.models import Project
from runs import iterate, landing
from runs.models import Attempt, Run
from runs.workspace import WrongBranch
from tasks.models import Task
from tests.conftest import attempt_finished, create_task, run_finished
from tests.helpers import attempt_with_commits, commit_on, git_cli, worktree_state

SWITCHES = {"a new branch": ["-b", "side"], "the user's develop": ["develop"]}


@pytest.fixture
def attempt(project: Project, git_repo: Path) -> Attempt:
    """A finished attempt with one commit whose agent run started from its base commit; the
    repository has a branch `develop` of the user's, checked out nowhere (nor is `main`,
    which `commit_on` moves)."""
    git_cli(git_repo, "branch", "develop")
    git_cli(git_repo, "checkout", "-q", "-b", "elsewhere")
    task = Task.objects.create(
        project=project, task_id="greet", title="Greet", prompt="greet", agent_type="shell"
    )
    made = attempt_with_commits(task, [{"README.md": "# from the agent\n"}])
    made.runs.update(head_before=made.base_commit)
    return made


def switched(attempt: Attempt, args: list[str]) -> str:
    """As an agent would: another branch checked out in the worktree, a commit made on it;
    returns that branch."""
    path = attempt.worktree_path
    git_cli(path, "checkout", "-q", *args)
    Path(path, "side.txt").write_text("on the other branch\n")
    git_cli(path, "add", "side.txt")
    git_cli(path, "commit", "-qm", "on the other branch")
    return args[-1]


def branches(repo: Path) -> str:
    return git_cli(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads")


def assert_refused(refused: pytest.ExceptionInfo[WrongBranch], attempt: Attempt, has: str) -> None:
    """The refusal says what is checked out and how to check the attempt's branch out."""
    message = refused.value.message
    assert refused.value.details["reason"] == "wrong_branch"
    assert f"has {has}, not the attempt's branch `{attempt.branch}`" in message
    assert f"git -C {attempt.worktree_path} switch {attempt.branch}" in message


@pytest.mark.parametrize("args", SWITCHES.values(), ids=SWITCHES.keys())
def test_a_retry_on_another_branch_is_refused_and_changes_nothing(
    attempt: Attempt, git_repo: Path, args: list[str]
) -> None:
    branch = switched(attempt, args)
    before = branches(git_repo), worktree_state(Path(attempt.worktree_path))
    run = attempt.runs.get()

    with pytest.raises(WrongBranch) as refused:
        iterate.attempt_retry(attempt.id, run_id=run.id)

    assert_refused(refused, attempt, f"`{branch}` checked out")
    assert (branches(git_repo), worktree_state(Path(attempt.worktree_path))) == before
    assert list(attempt.runs.values_list("id", "dropped_at")) == [(run.id, None)]


@pytest.mark.parametrize("args", SWITCHES.values(), ids=SWITCHES.keys())
def test_a_rebase_on_another_branch_is_refused_and_changes_nothing(
    attempt: Attempt, git_repo: Path, args: list[str]
) -> None:
    branch = switched(attempt, args)
    commit_on(git_repo, "main", {"other.txt": "other\n"})
    before = branches(git_repo), worktree_state(Path(attempt.worktree_path))

    with pytest.raises(WrongBranch) as refused:
        landing.attempt_rebase(attempt.id)

    assert_refused(refused, attempt, f"`{branch}` checked out")
    assert (branches(git_repo), worktree_state(Path(attempt.worktree_path))) == before
    assert Attempt.objects.get(id=attempt.id).base_commit == attempt.base_commit


def test_a_file_delete_on_a_detached_head_is_refused_and_changes_nothing(
    attempt: Attempt, git_repo: Path
) -> None:
    git_cli(attempt.worktree_path, "checkout", "-q", "--detach")
    before = branches(git_repo), worktree_state(Path(attempt.worktree_path))

    with pytest.raises(WrongBranch) as refused:
        iterate.attempt_file_delete(attempt.id, path="README.md")

    assert_refused(refused, attempt, "a detached HEAD")
    assert (branches(git_repo), worktree_state(Path(attempt.worktree_path))) == before


def test_a_rebase_of_another_branch_stopped_in_the_worktree_is_not_aborted(
    attempt: Attempt, git_repo: Path
) -> None:
    """Only a stopped rebase of the attempt's own branch counts as on it."""
    path = Path(attempt.worktree_path)
    switched(attempt, ["-b", "side"])
    commit_on(git_repo, "main", {"side.txt": "main's own\n"})
    stopped = subprocess.run(["git", "-C", str(path), "rebase", "main"], capture_output=True)
    assert stopped.returncode != 0  # stopped on the conflict in side.txt
    before = branches(git_repo), worktree_state(path)

    with pytest.raises(WrongBranch) as refused:
        landing.attempt_conflicts_abort(attempt.id)

    assert_refused(refused, attempt, "`side` checked out")
    assert (branches(git_repo), worktree_state(path)) == before
    assert git_cli(path, "status").count("rebasing branch 'side'") == 1


def test_the_pipeline_does_not_commit_on_a_branch_the_agent_checked_out(
    work: str, api: APIClient, project: Project, git_repo: Path
) -> None:
    created = create_task(api, prompt="git checkout -q -b side; echo x > f")
    run = run_finished(created["run_id"])
    attempt = attempt_finished(run.attempt_id)
    path = attempt.worktree_path

    assert attempt.status == "failed"
    assert attempt.error_summary.startswith("the agent's changes were not committed: ")
    assert f"has `side` checked out, not the attempt's branch `{attempt.branch}`" in (
        attempt.error_summary
    )
    base = attempt.base_commit
    assert git_cli(git_repo, "rev-parse", "side", attempt.branch).split() == [base, base]
    assert git_cli(path, "status", "--porcelain") == "?? f\n"  # left as the agent left it
    assert Run.objects.get(id=run.id).head_after == ""


def test_a_follow_up_does_not_start_on_a_branch_the_agent_checked_out(
    work: str, api: APIClient, project: Project, git_repo: Path
) -> None:
    created = create_task(api, prompt="git checkout -q -b side; echo done")
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)

    answer = api.post(f"/api/v1/attempts/{attempt.id}/follow-up", {"prompt": "touch ran"})
    run = run_finished(answer.json()["run_id"])

    assert run.status == "failed"
    assert "has `side` checked out, not the attempt's branch" in run.error_summary
    assert not Path(attempt.worktree_path, "ran").exists()
