"""Pushing an attempt's branch to a real (bare, local) remote, and pull requests through a
fake `gh` on PATH (tests/fixtures/fake_gh): runs/landing.py."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from projects.models import Project
from runs import landing
from runs.models import Attempt
from tasks.models import Task
from tests.helpers import attempt_with_commits, commit_on, git_cli
from tests.runs.conftest import FakeGh


@pytest.fixture
def attempt(project: Project, git_repo: Path) -> Attempt:
    task = Task.objects.create(
        project=project, task_id="t", title="Greet the world", prompt="p", agent_type="shell"
    )
    git_cli(git_repo, "checkout", "-q", "-b", "elsewhere")
    return attempt_with_commits(task, [{"a.txt": "a\n"}], summary="Adds a.txt")


def gh_calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_it_pushes_the_branch_to_the_projects_remote(
    git_repo: Path, attempt: Attempt, remote: Path
) -> None:
    pushed = landing.attempt_push(attempt.id)

    assert (pushed.remote, pushed.branch) == ("origin", attempt.branch)
    assert git_cli(remote, "rev-parse", attempt.branch).strip() == pushed.commit
    assert pushed.commit == git_cli(git_repo, "rev-parse", attempt.branch).strip()


def test_a_rebased_branch_needs_force_which_pushes_it_with_a_lease(
    git_repo: Path, attempt: Attempt, remote: Path
) -> None:
    landing.attempt_push(attempt.id)
    commit_on(git_repo, "main", {"other.txt": "o\n"})
    landing.attempt_rebase(attempt.id)

    with pytest.raises(landing.LandingConflict) as refused:
        landing.attempt_push(attempt.id)
    assert "rejected" in refused.value.details["git"]

    pushed = landing.attempt_push(attempt.id, force=True)
    assert git_cli(remote, "rev-parse", attempt.branch).strip() == pushed.commit


def test_uncommitted_changes_in_the_worktree_refuse_the_push_and_the_pull_request(
    attempt: Attempt, remote: Path, fake_gh: FakeGh
) -> None:
    Path(attempt.worktree_path, "a.txt").write_text("a, fixed\n")

    for land in (landing.attempt_push, landing.attempt_pr_create):
        with pytest.raises(landing.LandingConflict) as refused:
            land(attempt.id)
        assert refused.value.details["reason"] == "dirty"
        assert refused.value.details["files"] == ["a.txt"]
    assert git_cli(remote, "branch", "--list") == ""
    assert not fake_gh.log.exists() or not any(
        call[:2] == ["pr", "create"] for call in gh_calls(fake_gh.log)
    )
    git_cli(attempt.worktree_path, "commit", "-qam", "fix")
    pushed = landing.attempt_push(attempt.id)
    assert git_cli(remote, "show", f"{pushed.commit}:a.txt") == "a, fixed\n"


@pytest.mark.parametrize("fetched", [True, False])
def test_a_force_push_keeps_a_reviewers_commit_and_says_how_to_keep_it(
    git_repo: Path, attempt: Attempt, remote: Path, tmp_path: Path, fetched: bool
) -> None:
    """A reviewer pushes to the attempt's branch; once the user's own `git fetch` brought it
    into `origin/<branch>`, a bare lease passed and the rebased branch replaced theirs."""
    landing.attempt_push(attempt.id)
    reviewer = tmp_path / "reviewer"
    git_cli(tmp_path, "clone", "-q", "--branch", attempt.branch, str(remote), str(reviewer))
    (reviewer / "review.txt").write_text("a reviewer's fix\n")
    git_cli(reviewer, "add", "review.txt")
    git_cli(reviewer, "-c", "user.name=R", "-c", "user.email=r@example.com", "commit", "-qm", "fix")
    git_cli(reviewer, "push", "-q", "origin", attempt.branch)
    reviewed = git_cli(reviewer, "rev-parse", "HEAD").strip()
    if fetched:
        git_cli(git_repo, "fetch", "-q", "origin")
    commit_on(git_repo, "main", {"other.txt": "o\n"})
    landing.attempt_rebase(attempt.id)

    with pytest.raises(landing.LandingConflict) as refused:
        landing.attempt_push(attempt.id, force=True)

    assert refused.value.details["reason"] == "remote_moved"
    said = refused.value.message
    assert f"somebody pushed to {attempt.branch} on origin" in said
    assert "nothing was pushed" in said and attempt.worktree_path in said
    assert git_cli(remote, "rev-parse", attempt.branch).strip() == reviewed
    worktree = Path(attempt.worktree_path)
    git_cli(worktree, "fetch", "-q", "origin")
    git_cli(worktree, "merge", "-q", "--no-edit", f"origin/{attempt.branch}")  # as it says
    pushed = landing.attempt_push(attempt.id, force=True)
    assert git_cli(remote, "merge-base", "--is-ancestor", reviewed, pushed.commit) == ""


def test_a_force_push_after_a_fetch_that_brought_nothing_new_replaces_the_branch(
    git_repo: Path, attempt: Attempt, remote: Path
) -> None:
    landing.attempt_push(attempt.id)
    git_cli(git_repo, "fetch", "-q", "origin")
    commit_on(git_repo, "main", {"other.txt": "o\n"})
    landing.attempt_rebase(attempt.id)

    pushed = landing.attempt_push(attempt.id, force=True)

    assert git_cli(remote, "rev-parse", attempt.branch).strip() == pushed.commit


def test_without_a_remote_it_says_how_to_add_one(attempt: Attempt) -> None:
    with pytest.raises(landing.LandingRefused, match="remote add origin"):
        landing.attempt_push(attempt.id)


def test_credentials_in_the_remote_url_never_reach_the_message_or_the_log(
    git_repo: Path, attempt: Attempt, caplog: pytest.LogCaptureFixture
) -> None:
    git_cli(git_repo, "remote", "add", "origin", "http://octo:s3cr3t-token@127.0.0.1:9/x.git")
    caplog.set_level(logging.DEBUG)

    with pytest.raises(landing.LandingConflict) as refused:
        landing.attempt_push(attempt.id)

    assert "127.0.0.1" in refused.value.message
    everything = f"{refused.value.message} {refused.value.details} {caplog.text}"
    assert "s3cr3t-token" not in everything


def test_without_gh_installed_it_says_how_to_install_and_log_in(
    attempt: Attempt, remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only_git = tmp_path / "bin"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setenv("PATH", str(only_git))

    with pytest.raises(landing.LandingRefused) as refused:
        landing.attempt_pr_create(attempt.id)

    assert "https://cli.github.com" in refused.value.message
    assert "gh auth login" in refused.value.message
    assert refused.value.details == {"reason": "gh_unavailable"}


def test_with_gh_logged_out_it_says_to_log_in_and_pushes_nothing(
    attempt: Attempt, remote: Path, fake_gh: FakeGh, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_GH_LOGGED_OUT", "1")

    with pytest.raises(landing.LandingRefused, match="gh auth login"):
        landing.attempt_pr_create(attempt.id)

    assert git_cli(remote, "branch", "--list") == ""


def test_it_pushes_opens_a_pull_request_and_records_it(
    attempt: Attempt, remote: Path, fake_gh: FakeGh
) -> None:
    pr = landing.attempt_pr_create(attempt.id)

    assert (pr.url, pr.number, pr.state) == ("https://github.com/octo/demo/pull/7", 7, "open")
    assert git_cli(remote, "rev-parse", attempt.branch)
    create = next(call for call in gh_calls(fake_gh.log) if call[:2] == ["pr", "create"])
    assert f"--head={attempt.branch}" in create and "--base=main" in create
    assert "--title=Greet the world" in create
    assert any(arg.startswith("--body=Adds a.txt\n") for arg in create)
    attempt.refresh_from_db()
    assert (attempt.pr_url, attempt.pr_number, attempt.pr_state) == (pr.url, 7, "open")
    with pytest.raises(landing.LandingConflict, match="open pull request already"):
        landing.attempt_pr_create(attempt.id)


def test_it_attaches_the_pull_request_of_its_branch(attempt: Attempt, fake_gh: FakeGh) -> None:
    url = "https://github.com/octo/demo/pull/41"
    state = {attempt.branch: {"url": url, "number": 41, "state": "MERGED"}}
    fake_gh.state.write_text(json.dumps(state))

    pr = landing.attempt_pr_attach(attempt.id)

    assert (pr.number, pr.state) == (41, "merged")
    attempt.refresh_from_db()
    assert (attempt.pr_url, attempt.pr_state) == (url, "merged")


def test_no_pull_request_to_attach_is_a_conflict_with_ghs_words(
    attempt: Attempt, fake_gh: FakeGh
) -> None:
    with pytest.raises(landing.LandingConflict, match="no pull requests found"):
        landing.attempt_pr_attach(attempt.id)
