"""The git wrapper against real repositories."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from projects import git
from tests.conftest import git as git_cli


def test_concurrent_worktree_adds_on_one_repository_all_succeed(
    git_repo: Path, tmp_path: Path
) -> None:
    def add(n: int) -> None:
        git.worktree_add(git_repo, tmp_path / f"wt-{n}", f"conductor/b{n}", "main")

    with ThreadPoolExecutor(max_workers=24) as pool:
        list(pool.map(add, range(48)))

    listed = git_cli(git_repo, "worktree", "list", "--porcelain")
    assert listed.count("branch refs/heads/conductor/b") == 48


def test_commit_all_includes_untracked_files_and_skips_ignored_ones(git_repo: Path) -> None:
    (git_repo / ".gitignore").write_text("*.log\n")
    (git_repo / "new.txt").write_text("new\n")
    (git_repo / "debug.log").write_text("noise\n")

    head = git.commit_all(git_repo, "Add new.txt\n\nbody")

    assert head == git_cli(git_repo, "rev-parse", "HEAD").strip()
    files = git_cli(git_repo, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(files) == [".gitignore", "new.txt"]
    assert git_cli(git_repo, "log", "-1", "--format=%B").strip() == "Add new.txt\n\nbody"


def test_a_failing_command_says_what_git_said(git_repo: Path) -> None:
    try:
        git.worktree_add(git_repo, git_repo / "x", "b", "no-such-branch")
    except git.GitError as exc:
        assert "no-such-branch" in str(exc)
    else:
        raise AssertionError("expected GitError")


def test_a_failed_worktree_add_keeps_a_branch_it_did_not_make(
    git_repo: Path, tmp_path: Path
) -> None:
    git_cli(git_repo, "branch", "conductor/mine")

    with pytest.raises(git.GitError, match="already exists"):
        git.worktree_add(git_repo, tmp_path / "wt", "conductor/mine", "main")

    assert git.branch_exists(git_repo, "conductor/mine")
    assert not (tmp_path / "wt").exists()


def test_a_failed_worktree_add_leaves_nothing_behind(git_repo: Path, tmp_path: Path) -> None:
    with pytest.raises(git.GitError):
        git.worktree_add(git_repo, tmp_path / "wt", "conductor/new", "no-such-base")

    assert not git.branch_exists(git_repo, "conductor/new")
    assert git_cli(git_repo, "worktree", "list", "--porcelain").count("worktree ") == 1
