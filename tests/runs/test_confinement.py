"""Nothing escapes its root: what an agent plants in its worktree or run folder cannot make
the pipeline read or write outside them (issue 7, section 5)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import Project
from runs.models import Attempt
from tests.conftest import attempt_finished, create_task, run_finished
from tests.helpers import git_cli

SECRET = "secret-key-value\n"


def finished_attempt(api: APIClient, prompt: str, **fields: str) -> Attempt:
    return attempt_finished(
        run_finished(create_task(api, prompt=prompt, **fields)["run_id"]).attempt_id
    )


def test_a_dangling_output_md_symlink_is_not_written_through(
    work: str, api: APIClient, project: Project, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    prompt = f'ln -s {outside} "$CONDUCTOR_RUN_DIR/output.md"; touch new.txt; echo final words'

    attempt = finished_attempt(api, prompt)

    assert attempt.status == "success", attempt.error_summary
    assert not outside.exists()
    assert git_cli(project.project_root, "show", f"{attempt.branch}:new.txt") == ""


def test_an_output_md_symlinked_out_is_not_read_into_the_commit(
    work: str, api: APIClient, project: Project, data_dir: Path
) -> None:
    (data_dir / "secret_key").write_text(SECRET)
    prompt = f'ln -s {data_dir / "secret_key"} "$CONDUCTOR_RUN_DIR/output.md"; touch new.txt'

    attempt = finished_attempt(api, prompt)

    message = git_cli(project.project_root, "log", "-1", "--format=%B", attempt.branch)
    assert attempt.status == "success", attempt.error_summary
    assert "secret-key-value" not in message
    assert "changes by shell" in message


def test_a_fifo_as_output_md_does_not_hang_the_commit(
    work: str, api: APIClient, project: Project
) -> None:
    attempt = finished_attempt(api, 'mkfifo "$CONDUCTOR_RUN_DIR/output.md"; touch new.txt')

    assert attempt.status == "success", attempt.error_summary
    assert git_cli(project.project_root, "show", f"{attempt.branch}:new.txt") == ""


def refs(repo: str) -> str:
    return git_cli(repo, "for-each-ref", "--format=%(refname) %(objectname)")


def test_a_default_branch_shaped_like_an_option_fails_the_attempt_and_touches_nothing(
    work: str, api: APIClient, project: Project
) -> None:
    Project.objects.filter(id=project.id).update(default_branch="--no-checkout")  # an old row
    before = refs(project.project_root), git_cli(project.project_root, "worktree", "list")

    attempt = finished_attempt(api, "touch new.txt")

    assert attempt.status == "failed"
    assert "default_branch '--no-checkout' is not a valid branch name" in attempt.error_summary
    assert (refs(project.project_root), git_cli(project.project_root, "worktree", "list")) == before
    assert attempt.worktree_path == ""


def test_an_agent_that_deletes_its_worktree_git_commits_nowhere(
    work: str, api: APIClient, project: Project, data_dir: Path, settings: Any
) -> None:
    """The data dir inside a git work tree (a dotfiles repo at `~`): without its `.git`, the
    worktree's folder belongs to that repository, which must not get the commit."""
    settings.CONDUCTOR = {**settings.CONDUCTOR, "WORKTREE_ROOT": data_dir / "_worktrees"}
    git_cli(data_dir, "init", "-q", "-b", "main")
    (data_dir / "secret_key").write_text(SECRET)
    git_cli(
        data_dir,
        "-c",
        "user.name=U",
        "-c",
        "user.email=u@x",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "dotfiles",
    )

    attempt = finished_attempt(api, "rm -rf .git; echo work > work.txt")

    assert attempt.status == "failed"
    assert "is no longer the git worktree Conductor made" in attempt.error_summary
    assert "nothing was committed" in attempt.error_summary
    assert git_cli(data_dir, "rev-list", "--count", "HEAD").strip() == "1"
    assert git_cli(data_dir, "diff", "--cached", "--name-only") == ""
    run = attempt.runs.get(kind="agent")
    assert run.status == "failed"
    assert "is no longer the git worktree Conductor made" in run.error_summary
    assert run.head_after == ""


# copy_files and a committed .worktreeinclude copy from the repository into the worktree only.


@pytest.fixture
def outside(tmp_path: Path, settings: Any) -> Path:
    """A secret beside the repository, and worktrees under their own root in tmp_path."""
    settings.CONDUCTOR = {**settings.CONDUCTOR, "WORKTREE_ROOT": tmp_path / "worktrees"}
    (tmp_path / "secret.txt").write_text(SECRET)
    return tmp_path


def commit_file(repo: Path, name: str, text: str) -> None:
    (repo / name).write_text(text)
    git_cli(repo, "add", name)
    git_cli(repo, "commit", "-qm", f"add {name}")


def secrets_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.read_text(errors="replace") == SECRET]


def test_copy_files_patterns_with_dotdot_copy_nothing(
    work: str, api: APIClient, project: Project, outside: Path
) -> None:
    project.copy_files = ["../secret.txt", "../../secret.txt", "sub/../../secret.txt"]
    project.save()

    attempt = finished_attempt(api, "ls -a")

    assert attempt.status == "success", attempt.error_summary
    assert secrets_under(outside / "worktrees") == []


def test_a_committed_worktreeinclude_with_dotdot_copies_nothing(
    work: str, api: APIClient, project: Project, git_repo: Path, outside: Path
) -> None:
    commit_file(git_repo, ".worktreeinclude", "../secret.txt\n../../secret.txt\n/../secret.txt\n")

    attempt = finished_attempt(api, "ls -a")

    assert attempt.status == "success", attempt.error_summary
    assert secrets_under(outside / "worktrees") == []


def test_a_source_symlinked_out_of_the_repository_is_not_copied(
    work: str, api: APIClient, project: Project, git_repo: Path, outside: Path
) -> None:
    commit_file(git_repo, ".gitignore", ".env\nconfig/\n")
    commit_file(git_repo, ".worktreeinclude", ".env\nconfig\n")
    (git_repo / ".env").symlink_to(outside / "secret.txt")
    (git_repo / "config").mkdir()
    (git_repo / "config" / "key").symlink_to(outside / "secret.txt")
    (git_repo / "config" / "kept.txt").write_text("mine\n")

    attempt = finished_attempt(api, "ls -a")

    assert attempt.status == "success", attempt.error_summary
    worktree = Path(attempt.worktree_path)
    assert not os.path.lexists(worktree / ".env")
    assert not os.path.lexists(worktree / "config" / "key")
    assert (worktree / "config" / "kept.txt").read_text() == "mine\n"


def test_a_worktree_symlink_does_not_lead_a_copy_out(
    work: str, api: APIClient, project: Project, git_repo: Path, outside: Path
) -> None:
    """The base branch has `conf` as a symlink out; the user's checkout has a real `conf/`
    with an untracked `.env` to copy: the copy must not land in the link's target."""
    target = outside / "elsewhere"
    target.mkdir()
    git_cli(git_repo, "checkout", "-q", "-b", "base")
    (git_repo / "conf").symlink_to(target)
    git_cli(git_repo, "add", "conf")
    git_cli(git_repo, "commit", "-qm", "conf link")
    git_cli(git_repo, "checkout", "-q", "main")
    commit_file(git_repo, ".gitignore", "conf/.env\n")
    (git_repo / "conf").mkdir()
    (git_repo / "conf" / ".env").write_text("TOKEN=abc\n")
    Project.objects.filter(id=project.id).update(default_branch="base", copy_files=["conf/.env"])

    attempt = finished_attempt(api, "ls -a")

    assert attempt.status == "success", attempt.error_summary
    assert list(target.iterdir()) == []


def test_an_empty_copy_files_pattern_is_skipped(
    work: str, api: APIClient, project: Project, outside: Path
) -> None:
    Project.objects.filter(id=project.id).update(copy_files=["", "README.md"])  # an old row

    attempt = finished_attempt(api, "cat README.md")

    assert attempt.status == "success", attempt.error_summary


def test_a_runs_folder_swapped_for_a_symlink_gets_no_script_written_through(
    work: str, api: APIClient, project: Project, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project.cleanup_script = "echo cleaning"
    project.save()
    prompt = f'rm -rf "$CONDUCTOR_TASK_DIR/runs"; ln -s {elsewhere} "$CONDUCTOR_TASK_DIR/runs"'

    attempt = finished_attempt(api, prompt)

    assert attempt.status == "failed"
    assert "cleanup script failed" in attempt.error_summary
    assert "is a symlink, refused" in attempt.error_summary
    assert list(elsewhere.iterdir()) == []
