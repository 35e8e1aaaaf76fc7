"""Nothing escapes its root: what an agent plants in its worktree or run folder cannot make
the pipeline read or write outside them (issue 7, section 5)."""

from __future__ import annotations

from pathlib import Path

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
