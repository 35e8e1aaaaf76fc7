"""The git wrapper against real repositories."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from projects import git
from tests.helpers import git_cli


def test_concurrent_worktree_adds_on_one_repository_all_succeed(
    git_repo: Path, tmp_path: Path
) -> None:
    def add(n: int) -> None:
        git.worktree_add(git_repo, tmp_path / f"wt-{n}", f"conductor/b{n}", "main")

    with ThreadPoolExecutor(max_workers=24) as pool:
        list(pool.map(add, range(48)))

    listed = git_cli(git_repo, "worktree", "list", "--porcelain")
    assert listed.count("branch refs/heads/conductor/b") == 48


@pytest.fixture
def worktree(git_repo: Path, tmp_path: Path) -> Path:
    path = tmp_path / "worktrees" / "wt"
    git.worktree_add(git_repo, path, "conductor/wt", "main")
    return path


def test_commit_all_includes_untracked_files_and_skips_ignored_ones(
    git_repo: Path, worktree: Path
) -> None:
    (worktree / ".gitignore").write_text("*.log\n")
    (worktree / "new.txt").write_text("new\n")
    (worktree / "debug.log").write_text("noise\n")

    head = git.commit_all(worktree, "Add new.txt\n\nbody", repo=git_repo)

    assert head == git_cli(git_repo, "rev-parse", "conductor/wt").strip()
    files = git_cli(worktree, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(files) == [".gitignore", "new.txt"]
    assert git_cli(worktree, "log", "-1", "--format=%B").strip() == "Add new.txt\n\nbody"


@pytest.mark.parametrize("commit", ["commit_all", "commit_paths"])
def test_conductors_commits_run_no_hook_not_even_one_that_fails(
    git_repo: Path, worktree: Path, commit: str
) -> None:
    marker = git_repo.parent / "hooks-ran"
    hooks = git_repo / ".git" / "hooks"
    for name in ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit"):
        (hooks / name).write_text(f"#!/bin/sh\necho {name} >> {marker}\nexit 1\n")
        (hooks / name).chmod(0o755)
    (worktree / "README.md").write_text("changed\n")

    if commit == "commit_all":
        head = git.commit_all(worktree, "Conductor's message\n", repo=git_repo)
    else:
        head = git.commit_paths(worktree, "Conductor's message\n", ["README.md"], repo=git_repo)

    assert not marker.exists()
    assert git_cli(worktree, "log", "-1", "--format=%B", head) == "Conductor's message\n\n"
    assert git_cli(worktree, "show", "--name-only", "--format=", head).split() == ["README.md"]


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


def users_worktree_away(repo: Path, tmp_path: Path) -> Path:
    """A worktree of the user's whose folder is away for now (on a disk not mounted): its
    admin dir, which `git worktree prune` would delete."""
    git_cli(repo, "worktree", "add", "-q", str(tmp_path / "usb" / "mine"), "-b", "mine")
    (tmp_path / "usb").rename(tmp_path / "usb-unmounted")
    return repo / ".git" / "worktrees" / "mine"


def failing_post_checkout_hook(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text("#!/bin/sh\necho 'lefthook: npm not found' >&2\nexit 3\n")
    hook.chmod(0o755)


def test_a_failing_post_checkout_hook_removes_only_the_worktree_it_failed_for(
    git_repo: Path, tmp_path: Path
) -> None:
    admin = users_worktree_away(git_repo, tmp_path)
    failing_post_checkout_hook(git_repo)

    with pytest.raises(git.GitError) as failed:
        git.worktree_add(git_repo, tmp_path / "wt", "conductor/new", "main")

    assert (admin / "gitdir").is_file() and (admin / "HEAD").is_file()
    assert "post-checkout hook failed" in str(failed.value)
    assert "lefthook: npm not found" in str(failed.value)
    assert not (tmp_path / "wt").exists() and not git.branch_exists(git_repo, "conductor/new")
    listed = git_cli(git_repo, "worktree", "list", "--porcelain")
    assert str(tmp_path / "wt") not in listed and "usb/mine" in listed


def test_a_discarded_worktree_takes_no_other_worktree_with_it(
    git_repo: Path, tmp_path: Path
) -> None:
    admin = users_worktree_away(git_repo, tmp_path)
    git.worktree_add(git_repo, tmp_path / "wt", "conductor/new", "main")

    git.worktree_discard(git_repo, tmp_path / "wt", "conductor/new")

    assert (admin / "gitdir").is_file()
    assert not (tmp_path / "wt").exists() and not git.branch_exists(git_repo, "conductor/new")


def test_a_folder_already_at_the_path_is_refused_and_kept(git_repo: Path, tmp_path: Path) -> None:
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / "keep.txt").write_text("someone's\n")

    with pytest.raises(git.GitError, match="already exists"):
        git.worktree_add(git_repo, tmp_path / "wt", "conductor/new", "main")

    assert (tmp_path / "wt" / "keep.txt").read_text() == "someone's\n"
    assert not git.branch_exists(git_repo, "conductor/new")


def refs(repo: Path) -> str:
    return git_cli(repo, "for-each-ref", "--format=%(refname) %(objectname)")


@pytest.mark.parametrize("base", ["--no-checkout", "--orphan", "-q"])
def test_a_base_shaped_like_an_option_is_a_bad_ref_not_an_option(
    git_repo: Path, tmp_path: Path, base: str
) -> None:
    before = refs(git_repo)

    with pytest.raises(git.GitError, match="invalid reference"):
        git.worktree_add(git_repo, tmp_path / "wt", "conductor/x", base)

    assert refs(git_repo) == before
    assert not (tmp_path / "wt").exists()
    assert git_cli(git_repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_a_branch_shaped_like_an_option_is_not_an_option(git_repo: Path) -> None:
    assert not git.branch_exists(git_repo, "--all")
    assert git.branch_exists(git_repo, "main")


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("main", True),
        ("feature/x-1", True),
        ("release-2.0", True),
        ("--no-checkout", False),
        ("-b", False),
        ("", False),
        ("a..b", False),
        ("with space", False),
        ("@{-1}", False),
        ("HEAD", False),
        ("x.lock", False),
        ("ends/", False),
        ("tab\tname", False),
    ],
)
def test_branch_name_valid_is_git_check_ref_format(name: str, valid: bool) -> None:
    assert git.branch_name_valid(name) is valid


def test_a_worktree_without_its_git_is_refused_by_the_commit(
    git_repo: Path, tmp_path: Path
) -> None:
    enclosing = tmp_path / "home"
    enclosing.mkdir()
    git_cli(enclosing, "init", "-q", "-b", "main")
    git_cli(enclosing, "commit", "-q", "--allow-empty", "-m", "dotfiles")
    worktree = enclosing / "worktrees" / "wt"
    git.worktree_add(git_repo, worktree, "conductor/wt", "main")
    git.worktree_check(git_repo, worktree)
    (worktree / ".git").unlink()
    (worktree / "new.txt").write_text("agent work\n")

    with pytest.raises(git.ForeignWorktree, match="nothing was committed") as raised:
        git.commit_all(worktree, "work", repo=git_repo)

    assert str(enclosing) in str(raised.value)
    assert git_cli(enclosing, "rev-list", "--count", "HEAD").strip() == "1"
    assert git_cli(enclosing, "diff", "--cached", "--name-only") == ""


def test_a_worktree_pointed_at_the_main_git_dir_is_refused(git_repo: Path, worktree: Path) -> None:
    (worktree / ".git").unlink()
    (worktree / ".git").write_text(f"gitdir: {git_repo / '.git'}\n")

    with pytest.raises(git.ForeignWorktree):
        git.worktree_check(git_repo, worktree)


def test_a_plain_folder_is_not_a_worktree(git_repo: Path, tmp_path: Path) -> None:
    with pytest.raises(git.ForeignWorktree, match="no git repository"):
        git.worktree_check(git_repo, tmp_path)


def test_a_worktree_pointed_at_another_worktree_is_refused(
    git_repo: Path, worktree: Path, tmp_path: Path
) -> None:
    other = tmp_path / "worktrees" / "other"
    git.worktree_add(git_repo, other, "conductor/other", "main")
    (worktree / ".git").write_text((other / ".git").read_text())

    with pytest.raises(git.ForeignWorktree):
        git.worktree_check(git_repo, worktree)
    git.worktree_check(git_repo, other)


def test_a_worktree_recorded_with_a_relative_path_is_accepted(
    git_repo: Path, worktree: Path
) -> None:
    """`worktree.useRelativePaths` (git 2.48+) records `gitdir` relative to the admin dir."""
    admin = Path(git_cli(worktree, "rev-parse", "--absolute-git-dir").strip())
    (admin / "gitdir").write_text(os.path.relpath(worktree / ".git", admin) + "\n")

    git.worktree_check(git_repo, worktree)


def test_a_worktree_folder_swapped_for_a_link_to_another_worktree_is_refused(
    git_repo: Path, worktree: Path, tmp_path: Path
) -> None:
    other = tmp_path / "worktrees" / "other"
    git.worktree_add(git_repo, other, "conductor/other", "main")
    shutil.rmtree(worktree)
    worktree.symlink_to(other)

    with pytest.raises(git.ForeignWorktree):
        git.worktree_check(git_repo, worktree)


def test_a_url_with_credentials_in_gits_message_is_redacted(git_repo: Path) -> None:
    with pytest.raises(git.GitError) as failed:
        git.git(git_repo, "check-ref-format", "--branch", "https://octo:s3cret@example.com/x.git")

    assert "https://***@example.com/x.git" in str(failed.value)
    assert "s3cret" not in str(failed.value) and "octo" not in str(failed.value)


def test_merge_tree_lists_conflicted_files_with_gits_messages(git_repo: Path) -> None:
    git_cli(git_repo, "checkout", "-q", "-b", "topic")
    (git_repo / "README.md").write_text("# topic\n")
    (git_repo / "new file.txt").write_text("n\n")
    git_cli(git_repo, "add", "--all")
    git_cli(git_repo, "commit", "-qm", "topic")
    git_cli(git_repo, "checkout", "-q", "main")
    (git_repo / "README.md").write_text("# main\n")
    git_cli(git_repo, "commit", "-qam", "main")

    merged = git.merge_tree(git_repo, "main", "topic")

    assert merged.conflicts == ["README.md"]
    assert "CONFLICT (content): Merge conflict in README.md" in merged.messages
    assert git_cli(git_repo, "status", "--porcelain") == ""
