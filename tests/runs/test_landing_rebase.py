"""Rebasing an attempt onto its target inside its worktree: conflicts listed, resolved and
continued, or aborted (runs/landing.py), on real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from projects.models import Project
from runs import landing
from runs.models import Attempt
from tasks.models import Task
from tests.helpers import attempt_with_commits, commit_on, git_cli, parents, worktree_state


@pytest.fixture
def attempt(project: Project, git_repo: Path) -> Attempt:
    task = Task.objects.create(
        project=project, task_id="greet", title="Greet", prompt="greet", agent_type="shell"
    )
    git_cli(git_repo, "checkout", "-q", "-b", "elsewhere")
    return attempt_with_commits(task, [{"README.md": "# from the agent\n"}])


def conflicting(git_repo: Path, attempt: Attempt) -> str:
    """main moves with its own change of the attempt's file; the rebase stops on it."""
    moved = commit_on(git_repo, "main", {"README.md": "# from main\n"})
    with pytest.raises(landing.LandingConflict) as refused:
        landing.attempt_rebase(attempt.id)
    assert refused.value.details["conflicted_files"] == ["README.md"]
    assert refused.value.details["op"] == "rebase"
    assert "README.md" in refused.value.message
    return moved


def test_a_rebase_without_conflicts_puts_the_branch_on_the_moved_target(
    git_repo: Path, attempt: Attempt
) -> None:
    moved = commit_on(git_repo, "main", {"other.txt": "other\n"})

    rebased = landing.attempt_rebase(attempt.id)

    assert rebased.onto == moved
    assert parents(git_repo, attempt.branch) == [moved]
    assert rebased.head == git_cli(git_repo, "rev-parse", attempt.branch).strip()
    attempt.refresh_from_db()
    assert attempt.base_commit == moved and attempt.operation == ""


def test_a_conflicting_rebase_then_abort_returns_the_worktree_to_where_it_was(
    git_repo: Path, attempt: Attempt
) -> None:
    before = worktree_state(Path(attempt.worktree_path))
    conflicting(git_repo, attempt)
    status = git_cli(attempt.worktree_path, "status", "--porcelain")
    assert status.startswith("AA README.md") or status.startswith("UU README.md")

    aborted = landing.attempt_conflicts_abort(attempt.id)

    assert aborted == "rebase"
    assert worktree_state(Path(attempt.worktree_path)) == before
    with pytest.raises(landing.LandingConflict, match="nothing to abort"):
        landing.attempt_conflicts_abort(attempt.id)


def test_a_conflict_resolved_then_continued_lands_on_the_target(
    git_repo: Path, attempt: Attempt
) -> None:
    moved = conflicting(git_repo, attempt)
    with pytest.raises(landing.LandingConflict, match="still has conflict markers"):
        landing.attempt_rebase_continue(attempt.id)
    Path(attempt.worktree_path, "README.md").write_text("# from main and the agent\n")

    rebased = landing.attempt_rebase_continue(attempt.id)
    merged = landing.attempt_merge(attempt.id, expected=moved)

    assert rebased.onto == moved and parents(git_repo, attempt.branch) == [moved]
    assert git_cli(git_repo, "show", "main:README.md") == "# from main and the agent\n"
    assert parents(git_repo, merged.commit) == [moved]
    assert git_cli(attempt.worktree_path, "status", "--porcelain") == ""


def test_a_second_rebase_while_one_is_stopped_on_conflicts_is_refused(
    git_repo: Path, attempt: Attempt
) -> None:
    conflicting(git_repo, attempt)

    with pytest.raises(landing.LandingConflict, match="already in progress"):
        landing.attempt_rebase(attempt.id)


def test_a_dirty_worktree_is_refused_and_left_as_it_is(git_repo: Path, attempt: Attempt) -> None:
    commit_on(git_repo, "main", {"other.txt": "other\n"})
    Path(attempt.worktree_path, "README.md").write_text("# not committed yet\n")
    before = worktree_state(Path(attempt.worktree_path))

    with pytest.raises(landing.LandingConflict, match="uncommitted changes") as refused:
        landing.attempt_rebase(attempt.id)

    assert refused.value.details["reason"] == "dirty"
    assert worktree_state(Path(attempt.worktree_path)) == before


def test_continue_without_a_rebase_in_progress_is_refused(attempt: Attempt) -> None:
    with pytest.raises(landing.LandingConflict, match="no rebase is in progress"):
        landing.attempt_rebase_continue(attempt.id)


def test_a_worktree_no_longer_conductors_is_refused_with_gits_words(attempt: Attempt) -> None:
    git_file = Path(attempt.worktree_path, ".git")
    git_file.unlink()

    with pytest.raises(landing.LandingConflict, match="no longer the git worktree"):
        landing.attempt_rebase(attempt.id)
