"""`POST /api/v1/attempts/{id}/delete-file` on a real repository and worktree (runs/iterate.py):
the file is deleted and `Delete <path>` committed on the attempt's branch; a path never leaves
the worktree, a symlink is deleted itself and never followed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from conductor_site.live.models import Event
from projects.models import Project
from runs.models import Attempt, Run, RunStatus
from tasks.models import Task
from tests.helpers import assert_error, attempt_with_commits, git_cli


@pytest.fixture
def attempt(project: Project) -> Attempt:
    task = Task.objects.create(project=project, task_id="t1", prompt="p", agent_type="shell")
    files = {"keep.txt": "keep\n", "src/gone.py": "print(1)\n", "a*b [c].txt": "odd name\n"}
    return attempt_with_commits(task, [files])


def _delete(api: APIClient, attempt: Attempt, path: Any) -> Any:
    url = f"/api/v1/attempts/{attempt.id}/delete-file"
    return api.post(url, {"path": path}, format="json")


def test_the_file_is_deleted_and_the_deletion_committed_on_the_branch(
    attempt: Attempt, api: APIClient, git_repo: Path
) -> None:
    worktree = Path(attempt.worktree_path)
    before = git_cli(worktree, "rev-parse", "HEAD").strip()
    (worktree / "keep.txt").write_text("edited, not committed\n")  # other changes stay as they are

    response = _delete(api, attempt, "src/gone.py")

    answer = response.json()
    assert response.status_code == 200, answer
    commit = answer["deleted"]["commit"]
    assert answer["deleted"]["path"] == "src/gone.py"
    assert git_cli(git_repo, "rev-parse", attempt.branch).strip() == commit
    assert git_cli(git_repo, "log", "-1", "--format=%s%n%P", commit).split() == [
        "Delete",
        "src/gone.py",
        before,
    ]
    assert git_cli(git_repo, "diff-tree", "--no-commit-id", "--name-status", "-r", commit) == (
        "D\tsrc/gone.py\n"
    )
    assert not (worktree / "src" / "gone.py").exists()
    assert git_cli(worktree, "status", "--porcelain") == " M keep.txt\n"
    events = Event.objects.filter(attempt_id=attempt.id, type="attempt.changed")
    assert [e.payload["change"] for e in events] == ["file_deleted"]
    # A name with glob characters is that file, not a pattern.
    odd = _delete(api, attempt, "a*b [c].txt").json()["deleted"]
    assert git_cli(git_repo, "show", "--format=%s", "--name-only", odd["commit"]).split("\n")[
        :3
    ] == ["Delete a*b [c].txt", "", "a*b [c].txt"]


def test_an_untracked_file_is_deleted_with_nothing_to_commit(
    attempt: Attempt, api: APIClient
) -> None:
    worktree = Path(attempt.worktree_path)
    (worktree / "scratch.txt").write_text("agent's leftover\n")
    head = git_cli(worktree, "rev-parse", "HEAD")

    answer = _delete(api, attempt, "scratch.txt").json()

    assert answer["deleted"] == {"path": "scratch.txt", "commit": ""}
    assert not (worktree / "scratch.txt").exists()
    assert git_cli(worktree, "rev-parse", "HEAD") == head


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "../outside.txt",
        "src/../../outside.txt",
        "./keep.txt",
        ".git/config",
        "src/.git",
        "",
        "x" * 5000,
        "keep\u0000.txt",
        ["keep.txt"],
    ],
)
def test_a_path_that_leaves_the_worktree_is_a_400(
    attempt: Attempt, api: APIClient, tmp_path: Path, path: Any
) -> None:
    (tmp_path / "outside.txt").write_text("not the worktree's\n")
    head = git_cli(attempt.worktree_path, "rev-parse", "HEAD")

    assert_error(_delete(api, attempt, path), 400, "BAD_REQUEST")

    assert (tmp_path / "outside.txt").read_text() == "not the worktree's\n"
    assert (Path(attempt.worktree_path) / "keep.txt").exists()
    assert git_cli(attempt.worktree_path, "rev-parse", "HEAD") == head


def test_a_symlinked_folder_is_never_gone_through_and_a_symlink_itself_is_deleted(
    attempt: Attempt, api: APIClient, tmp_path: Path
) -> None:
    worktree = Path(attempt.worktree_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("keep me\n")
    os.symlink(outside, worktree / "out")
    os.symlink(worktree / "src", worktree / "inside")
    os.symlink(outside / "secret.txt", worktree / "link.txt")
    git_cli(worktree, "add", "link.txt")
    git_cli(worktree, "commit", "-qm", "a link")

    assert_error(_delete(api, attempt, "out/secret.txt"), 400, "BAD_REQUEST")
    assert_error(_delete(api, attempt, "inside/gone.py"), 400, "BAD_REQUEST")
    assert (outside / "secret.txt").read_text() == "keep me\n"
    assert (worktree / "src" / "gone.py").exists()

    answer = _delete(api, attempt, "link.txt").json()

    assert answer["deleted"]["commit"] != ""
    assert not os.path.lexists(worktree / "link.txt")
    assert (outside / "secret.txt").read_text() == "keep me\n"


def test_a_missing_file_is_a_404_and_a_folder_a_400(attempt: Attempt, api: APIClient) -> None:
    assert_error(_delete(api, attempt, "nope.txt"), 404, "NOT_FOUND")
    assert_error(_delete(api, attempt, "nope/deeper.txt"), 404, "NOT_FOUND")
    assert_error(_delete(api, attempt, "keep.txt/under"), 404, "NOT_FOUND")
    assert_error(_delete(api, attempt, "src"), 400, "BAD_REQUEST")
    assert_error(api.post("/api/v1/attempts/nope/delete-file", {"path": "x"}), 404, "NOT_FOUND")
    assert (Path(attempt.worktree_path) / "src" / "gone.py").exists()


def test_it_is_refused_while_a_run_is_active(attempt: Attempt, api: APIClient) -> None:
    run = Run.objects.create(attempt=attempt, kind=Run.Kind.AGENT, status=RunStatus.QUEUED)
    assert_error(_delete(api, attempt, "keep.txt"), 409, "CONFLICT")
    Attempt.objects.filter(id=attempt.id).update(status=RunStatus.RUNNING)
    Run.objects.filter(id=run.id).update(status=RunStatus.RUNNING)
    assert_error(_delete(api, attempt, "keep.txt"), 409, "CONFLICT")
    assert (Path(attempt.worktree_path) / "keep.txt").exists()
