"""Nothing escapes its root: what an agent plants in its worktree or run folder cannot make
the pipeline read or write outside them (issue 7, section 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rest_framework.test import APIClient

from projects.models import Project
from runs.models import Attempt
from tests.conftest import attempt_finished, create_task, git, run_finished

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
    assert git(project.project_root, "show", f"{attempt.branch}:new.txt") == ""


def test_an_output_md_symlinked_out_is_not_read_into_the_commit(
    work: str, api: APIClient, project: Project, data_dir: Path
) -> None:
    (data_dir / "secret_key").write_text(SECRET)
    prompt = f'ln -s {data_dir / "secret_key"} "$CONDUCTOR_RUN_DIR/output.md"; touch new.txt'

    attempt = finished_attempt(api, prompt)

    message = git(project.project_root, "log", "-1", "--format=%B", attempt.branch)
    assert attempt.status == "success", attempt.error_summary
    assert "secret-key-value" not in message
    assert "changes by shell" in message


def test_a_fifo_as_output_md_does_not_hang_the_commit(
    work: str, api: APIClient, project: Project
) -> None:
    attempt = finished_attempt(api, 'mkfifo "$CONDUCTOR_RUN_DIR/output.md"; touch new.txt')

    assert attempt.status == "success", attempt.error_summary
    assert git(project.project_root, "show", f"{attempt.branch}:new.txt") == ""


def refs(repo: str) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


def test_a_default_branch_shaped_like_an_option_fails_the_attempt_and_touches_nothing(
    work: str, api: APIClient, project: Project
) -> None:
    Project.objects.filter(id=project.id).update(default_branch="--no-checkout")  # an old row
    before = refs(project.project_root), git(project.project_root, "worktree", "list")

    attempt = finished_attempt(api, "touch new.txt")

    assert attempt.status == "failed"
    assert "default_branch '--no-checkout' is not a valid branch name" in attempt.error_summary
    assert (refs(project.project_root), git(project.project_root, "worktree", "list")) == before
    assert attempt.worktree_path == ""


def test_an_agent_that_deletes_its_worktree_git_commits_nowhere(
    work: str, api: APIClient, project: Project, data_dir: Path, settings: Any
) -> None:
    """The data dir inside a git work tree (a dotfiles repo at `~`): without its `.git`, the
    worktree's folder belongs to that repository, which must not get the commit."""
    settings.CONDUCTOR = {**settings.CONDUCTOR, "WORKTREE_ROOT": data_dir / "_worktrees"}
    git(data_dir, "init", "-q", "-b", "main")
    (data_dir / "secret_key").write_text(SECRET)
    git(
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
    assert git(data_dir, "rev-list", "--count", "HEAD").strip() == "1"
    assert git(data_dir, "diff", "--cached", "--name-only") == ""
    run = attempt.runs.get(kind="agent")
    assert run.status == "failed"
    assert "is no longer the git worktree Conductor made" in run.error_summary
    assert run.head_after == ""
