"""Where an attempt's branch stands against its target, on real repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from projects import git
from projects.models import Project
from runs.branch_status import BranchStatusUnavailable, attempt_branch_status
from runs.models import Attempt
from tasks.models import Task
from tests.helpers import git_cli


@pytest.fixture
def attempt(project: Project, git_repo: Path, tmp_path: Path) -> Attempt:
    (git_repo / "shared.txt").write_text("base\n")
    git_cli(git_repo, "add", ".")
    git_cli(git_repo, "commit", "-qm", "shared")
    path = tmp_path / "worktrees" / "wt"
    start = git.worktree_add(git_repo, path, "conductor/wt", "main")
    task = Task.objects.create(project=project, task_id="t1", prompt="p", agent_type="shell")
    return Attempt.objects.create(
        task=task,
        agent="shell",
        worktree_path=str(path),
        branch="conductor/wt",
        base_branch="main",
        target_branch="main",
        base_commit=start,
    )


def commit(where: Path | str, name: str, text: str) -> str:
    Path(where, name).write_text(text)
    git_cli(where, "add", name)
    git_cli(where, "commit", "-qm", f"{name}: {text.strip()}")
    return git_cli(where, "rev-parse", "HEAD").strip()


def test_a_fresh_attempt_is_level_with_its_target(attempt: Attempt) -> None:
    status = attempt_branch_status(attempt)

    assert (status["commits_ahead"], status["commits_behind"]) == (0, 0)
    assert status["head_commit"] == status["target_commit"] == attempt.base_commit
    assert status["target_moved"] is False
    assert status["has_uncommitted_changes"] is False
    assert status["operation_in_progress"] is None
    assert status["worktree_present"] is True


def test_it_counts_commits_and_uncommitted_and_untracked_files(
    attempt: Attempt, git_repo: Path
) -> None:
    wt = Path(attempt.worktree_path)
    commit(wt, "a.txt", "a\n")
    head = commit(wt, "b.txt", "b\n")
    target = commit(git_repo, "main-only.txt", "m\n")
    (wt / "shared.txt").write_text("edited\n")
    (wt / "a.txt").write_text("staged\n")
    git_cli(wt, "add", "a.txt")
    (wt / "new1.txt").write_text("u\n")
    (wt / "new2.txt").write_text("u\n")

    status = attempt_branch_status(attempt)

    assert (status["commits_ahead"], status["commits_behind"]) == (2, 1)
    assert (status["head_commit"], status["target_commit"]) == (head, target)
    assert status["merge_base"] == attempt.base_commit
    assert status["target_moved"] is True
    assert (status["uncommitted_count"], status["untracked_count"]) == (2, 2)
    assert status["has_uncommitted_changes"] is True


def test_a_rebase_stopped_on_conflicts_is_reported_with_its_files(
    attempt: Attempt, git_repo: Path
) -> None:
    wt = Path(attempt.worktree_path)
    commit(wt, "shared.txt", "attempt's line\n")
    commit(git_repo, "shared.txt", "main's line\n")
    rebase = subprocess.run(["git", "-C", str(wt), "rebase", "main"], capture_output=True)
    assert rebase.returncode != 0

    status = attempt_branch_status(attempt)

    assert status["operation_in_progress"] == "rebase"
    assert status["is_rebase_in_progress"] is True
    assert status["conflicted_files"] == ["shared.txt"]
    git_cli(wt, "rebase", "--abort")
    assert attempt_branch_status(attempt)["operation_in_progress"] is None


def test_a_merge_stopped_on_conflicts_is_reported(attempt: Attempt, git_repo: Path) -> None:
    wt = Path(attempt.worktree_path)
    commit(wt, "shared.txt", "attempt's line\n")
    commit(git_repo, "shared.txt", "main's line\n")
    merge = subprocess.run(["git", "-C", str(wt), "merge", "main"], capture_output=True)
    assert merge.returncode != 0

    status = attempt_branch_status(attempt)

    assert (status["operation_in_progress"], status["is_merge_in_progress"]) == ("merge", True)
    assert status["conflicted_files"] == ["shared.txt"]


def test_once_the_worktree_is_gone_it_reads_the_branch(attempt: Attempt, git_repo: Path) -> None:
    head = commit(attempt.worktree_path, "a.txt", "a\n")
    git.worktree_remove(git_repo, attempt.worktree_path)

    status = attempt_branch_status(attempt)

    assert (status["worktree_present"], status["head_commit"]) == (False, head)
    assert (status["commits_ahead"], status["uncommitted_count"]) == (1, 0)


def test_a_target_that_changed_counts_as_moved_only_when_it_is_ahead(
    attempt: Attempt, git_repo: Path
) -> None:
    git_cli(git_repo, "branch", "release", attempt.base_commit)
    Attempt.objects.filter(id=attempt.id).update(target_branch="release")
    attempt.refresh_from_db()
    assert attempt_branch_status(attempt)["target_moved"] is False

    git_cli(git_repo, "checkout", "-q", "release")
    commit(git_repo, "fix.txt", "fix\n")

    assert attempt_branch_status(attempt)["target_moved"] is True


def test_a_missing_target_is_a_clear_refusal(attempt: Attempt) -> None:
    Attempt.objects.filter(id=attempt.id).update(target_branch="no-such-branch")
    attempt.refresh_from_db()

    with pytest.raises(BranchStatusUnavailable, match="no-such-branch"):
        attempt_branch_status(attempt)


def test_a_worktree_that_is_no_longer_conductors_is_refused(attempt: Attempt) -> None:
    (Path(attempt.worktree_path) / ".git").unlink()

    with pytest.raises(BranchStatusUnavailable, match="no longer the git worktree"):
        attempt_branch_status(attempt)
