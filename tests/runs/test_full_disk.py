"""A full disk ends an attempt with a readable status: never a hang, never a lost log."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import Project
from tests.conftest import attempt_finished, create_task, log_text, run_finished
from tests.helpers import git_cli


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs (mounting needs root, as on the CI machine)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"a small disk needs a tmpfs mount (root): {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def worktrees_on_small_disk(settings: Any, small_disk: Path) -> Path:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "WORKTREE_ROOT": small_disk}
    return small_disk


def test_a_worktree_that_does_not_fit_fails_the_attempt_with_what_to_do(
    work: str, api: APIClient, project: Project, worktrees_on_small_disk: Path
) -> None:
    repo = Path(project.project_root)
    (repo / "big.bin").write_bytes(os.urandom(1024 * 1024))
    git_cli(repo, "add", "big.bin")
    git_cli(repo, "commit", "-qm", "a big file")

    run = run_finished(create_task(api)["run_id"])
    attempt = attempt_finished(run.attempt_id)

    assert (run.status, attempt.status) == ("failed", "failed")
    assert "unable to write file big.bin" in attempt.error_summary
    assert "is full" in attempt.error_summary and "free space and retry" in attempt.error_summary
    # Nothing of the half-made worktree is left: no folder, no registration, no branch.
    assert list(worktrees_on_small_disk.rglob("*")) == [worktrees_on_small_disk / "demo"]
    assert git_cli(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git_cli(repo, "branch", "--list", "conductor/*") == ""
    assert git_cli(repo, "status", "--porcelain") == ""


def test_an_agent_that_fills_the_disk_fails_and_its_output_is_kept(
    work: str, api: APIClient, project: Project, worktrees_on_small_disk: Path
) -> None:
    prompt = "echo before; head -c 2000000 /dev/zero > fill.bin; echo after $?; exit 1"

    run = run_finished(create_task(api, prompt=prompt)["run_id"])
    attempt = attempt_finished(run.attempt_id)

    assert (run.status, attempt.status) == ("failed", "failed")
    assert run.error_summary.startswith("exited with code 1; the disk of ")
    assert "is full" in run.error_summary
    output = log_text(run.id)
    assert "before" in output and "No space left on device" in output and "after 1" in output
