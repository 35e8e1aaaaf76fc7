"""Archiving an attempt's worktree (`POST /api/v1/attempts/{id}/archive`, runs/archive.py):
uncommitted work kept as a WIP commit on the branch, the folder removed with git, the branch
kept; never a path outside the worktree root, symlinks included; never while a run is active.
Real repositories, real runs through the embedded worker."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from conductor_site.live.models import Event
from projects import storage
from projects.models import Project
from runs import tasks
from runs.models import Attempt
from runs.selectors import folder_bytes
from tests.conftest import create_task, run_finished, wait_for
from tests.helpers import (
    assert_error,
    attempt_with_commits,
    git_cli,
    tree_fingerprint,
)
from tests.projects.builders import finished_attempt, make_task


def archive(api: APIClient, attempt_id: str) -> Any:
    return api.post(f"/api/v1/attempts/{attempt_id}/archive", format="json")


def test_archive_keeps_uncommitted_work_as_a_wip_commit_and_removes_the_worktree(
    work: str, api: APIClient, project: Project, worktree_root: Path, git_repo: Path
) -> None:
    attempt = finished_attempt(api, "echo one > one.txt; echo done")
    path = Path(attempt.worktree_path)
    (path / "one.txt").write_text("changed after the run\n")  # tracked, modified
    (path / "notes.txt").write_text("untracked\n")
    (git_repo / "README.md").write_text("the user's own edit\n")  # the user's tree is dirty
    (git_repo / "scratch.txt").write_text("theirs\n")
    user_before = git_cli(git_repo, "status", "--porcelain"), tree_fingerprint(git_repo)
    head_before = git_cli(git_repo, "rev-parse", "HEAD")

    response = archive(api, attempt.id)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["archived"]["reason"] == "requested" and body["archived"]["removed"] is True
    assert body["archived"]["freed_bytes"] > 0
    assert body["worktree"]["present"] is False and body["worktree"]["disk_bytes"] == 0
    assert not path.exists()
    assert str(path) not in git_cli(git_repo, "worktree", "list")
    wip = body["archived"]["wip_commit"]
    assert git_cli(git_repo, "rev-parse", attempt.branch).strip() == wip
    assert git_cli(git_repo, "log", "-1", "--format=%s", wip).startswith("WIP: uncommitted")
    assert git_cli(git_repo, "show", f"{wip}:one.txt") == "changed after the run\n"
    assert git_cli(git_repo, "show", f"{wip}:notes.txt") == "untracked\n"
    assert (git_cli(git_repo, "status", "--porcelain"), tree_fingerprint(git_repo)) == user_before
    assert git_cli(git_repo, "rev-parse", "HEAD") == head_before
    event = Event.objects.filter(attempt_id=attempt.id, type="attempt.changed").last()
    assert event is not None and event.payload["change"] == "worktree_archived"


def test_conductors_commits_run_none_of_the_users_hooks(
    work: str, api: APIClient, project: Project, worktree_root: Path, git_repo: Path
) -> None:
    """`--no-verify` skips pre-commit and commit-msg only: prepare-commit-msg rewrote the
    message of the pipeline's commit and of the archive's WIP commit, post-commit ran after."""
    marker = git_repo.parent / "hooks-ran"
    hooks = git_repo / ".git" / "hooks"
    for name, rest in [("prepare-commit-msg", 'echo rewritten > "$1"'), ("post-commit", "")]:
        (hooks / name).write_text(f"#!/bin/sh\necho {name} >> {marker}\n{rest}\n")
        (hooks / name).chmod(0o755)

    attempt = finished_attempt(api, "echo one > one.txt; echo done")
    (Path(attempt.worktree_path) / "one.txt").write_text("changed after the run\n")
    response = archive(api, attempt.id)

    assert response.status_code == 200, response.content
    assert not marker.exists()
    subjects = git_cli(git_repo, "log", "--format=%s", f"main..{attempt.branch}").splitlines()
    assert subjects[0].startswith("WIP: uncommitted work kept") and subjects[1] == "done"


def test_archiving_twice_is_harmless_and_a_clean_worktree_gets_no_wip_commit(
    work: str, api: APIClient, project: Project, worktree_root: Path, git_repo: Path
) -> None:
    attempt = finished_attempt(api, "echo one > one.txt; echo done")
    head = git_cli(git_repo, "rev-parse", attempt.branch)

    first, second = archive(api, attempt.id), archive(api, attempt.id)

    assert first.status_code == 200 and first.json()["archived"]["wip_commit"] == ""
    assert second.status_code == 200 and second.json()["archived"]["removed"] is False
    assert git_cli(git_repo, "rev-parse", attempt.branch) == head


def test_archive_is_refused_while_a_run_is_active(
    work: str, api: APIClient, project: Project, worktree_root: Path
) -> None:
    run_id = create_task(api, prompt="touch started; while [ ! -e go ]; do sleep 0.05; done")[
        "run_id"
    ]
    attempt = wait_for(
        lambda: (
            Attempt.objects.filter(runs__id=run_id, status="running")
            .exclude(worktree_path="")
            .first()
        ),
        what="the agent to run",
    )
    wait_for(lambda: (Path(attempt.worktree_path) / "started").exists(), what="the agent")

    body = assert_error(archive(api, attempt.id), 409, "CONFLICT")

    assert "busy" in body["error"]
    assert Path(attempt.worktree_path).is_dir()
    (Path(attempt.worktree_path) / "go").touch()
    run_finished(run_id)


def test_a_worktree_without_its_branch_checked_out_is_kept(
    work: str, api: APIClient, project: Project, worktree_root: Path
) -> None:
    """A WIP commit on a detached HEAD would belong to no branch: removing would lose it."""
    attempt = finished_attempt(api, "echo one > one.txt; echo done")
    path = Path(attempt.worktree_path)
    git_cli(path, "checkout", "-q", "--detach")
    (path / "loose.txt").write_text("uncommitted\n")

    body = assert_error(archive(api, attempt.id), 409, "CONFLICT")

    assert body["details"]["reason"] == "detached"
    assert (path / "loose.txt").read_text() == "uncommitted\n"


def test_a_worktree_with_a_rebase_stopped_in_it_is_kept(
    work: str, api: APIClient, project: Project, worktree_root: Path, git_repo: Path
) -> None:
    attempt = finished_attempt(api, "echo theirs > same.txt; echo done")
    (git_repo / "same.txt").write_text("ours\n")  # main moves on, in the user's tree
    git_cli(git_repo, "add", "same.txt")
    git_cli(git_repo, "commit", "-qm", "ours")
    path = Path(attempt.worktree_path)
    rebase = subprocess.run(["git", "-C", str(path), "rebase", "main"], capture_output=True)
    assert rebase.returncode != 0  # stopped on the conflict

    body = assert_error(archive(api, attempt.id), 409, "CONFLICT")

    assert body["details"]["reason"] == "in_progress"
    assert path.is_dir() and Attempt.objects.get(id=attempt.id).worktree_archived_at is None


def test_a_worktree_holding_a_repository_of_its_own_is_kept(
    work: str, api: APIClient, project: Project, worktree_root: Path, git_repo: Path
) -> None:
    """An agent's `git init` (or clone) inside its worktree: `add --all` would keep only a
    link to its commit, and the removal would take its history and its files."""
    attempt = finished_attempt(api, "echo one > one.txt; echo done")
    path = Path(attempt.worktree_path)
    nested = path / "vendor" / "lib"
    git_cli(path, "init", "-q", "vendor/lib")
    (nested / "code.py").write_text("print('nested')\n")
    git_cli(nested, "add", "code.py")
    git_cli(nested, "commit", "-qm", "the nested repository's own commit")
    (nested / "draft.txt").write_text("uncommitted in the nested repository\n")
    before = tree_fingerprint(path), git_cli(git_repo, "rev-parse", attempt.branch)

    body = assert_error(archive(api, attempt.id), 409, "CONFLICT")

    assert body["details"] == {"reason": "embedded_repository", "paths": ["vendor/lib"]}
    assert "a git repository of its own at vendor/lib" in body["error"]
    assert "move it out of the worktree or remove it, then archive" in body["error"]
    assert (tree_fingerprint(path), git_cli(git_repo, "rev-parse", attempt.branch)) == before
    assert git_cli(nested, "log", "--format=%s") == "the nested repository's own commit\n"
    assert Attempt.objects.get(id=attempt.id).worktree_archived_at is None


def test_a_repository_in_a_folder_the_worktree_ignores_does_not_keep_it(
    work: str, api: APIClient, project: Project, worktree_root: Path, git_repo: Path
) -> None:
    """A dependency's checkout (pip's `.venv/src/<pkg>`) is no work of the branch: it goes
    with the worktree as every ignored file does."""
    attempt = finished_attempt(api, "echo one > one.txt; echo done")
    path = Path(attempt.worktree_path)
    (git_repo / ".git" / "info" / "exclude").write_text(".venv/\n")
    git_cli(path, "init", "-q", ".venv/src/pkg")

    response = archive(api, attempt.id)

    assert response.status_code == 200, response.content
    assert not path.exists()


def test_after_a_merge_a_worktree_holding_a_repository_is_kept_and_why_logged(
    work: str,
    api: APIClient,
    project: Project,
    worktree_root: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A `.git` file counts too (`git init --separate-git-dir`, a submodule's checkout); a
    symlink to a repository elsewhere is not followed (only the link would go)."""
    attempt = finished_attempt(api, "echo one > one.txt; echo done")
    path = Path(attempt.worktree_path)
    git_cli(path, "init", "-q", f"--separate-git-dir={tmp_path / 'sub.git'}", "sub")
    git_cli(path / "sub", "commit", "-q", "--allow-empty", "-m", "its own commit")
    (path / "sub" / "notes.txt").write_text("the agent's notes\n")
    git_cli(tmp_path, "init", "-q", "elsewhere")
    (path / "elsewhere").symlink_to(tmp_path / "elsewhere")
    assert (path / "sub" / ".git").is_file()

    tasks.worktree_archive(attempt.id, "merged")  # as the merge's automatic archive runs it

    assert (path / "sub" / "notes.txt").read_text() == "the agent's notes\n"
    assert Attempt.objects.get(id=attempt.id).worktree_archived_at is None
    assert f"kept the worktree of attempt {attempt.id} (merged)" in caplog.text
    assert "a git repository of its own at sub: " in caplog.text


def test_a_path_outside_the_root_is_refused_and_nothing_there_is_removed(
    db: None, api: APIClient, project: Project, worktree_root: Path, git_repo: Path
) -> None:
    """`attempt_with_commits` makes a real worktree of the repository beside it, outside the
    root; then the row names the user's own checkout."""
    attempt = attempt_with_commits(make_task(project, "t1"), [{"a.txt": "a\n"}])
    outside = Path(attempt.worktree_path)
    (outside / "dirty.txt").write_text("keep me\n")
    before = tree_fingerprint(outside), tree_fingerprint(git_repo)

    body = assert_error(archive(api, attempt.id), 409, "CONFLICT")
    Attempt.objects.filter(id=attempt.id).update(worktree_path=str(git_repo))
    mine = assert_error(archive(api, attempt.id), 409, "CONFLICT")

    assert (
        body["details"]["reason"] == "outside_root" and mine["details"]["reason"] == "outside_root"
    )
    assert (tree_fingerprint(outside), tree_fingerprint(git_repo)) == before
    assert str(outside) in git_cli(git_repo, "worktree", "list")
    assert Attempt.objects.get(id=attempt.id).worktree_archived_at is None


def test_a_symlink_in_the_root_pointing_out_is_refused(
    db: None, api: APIClient, project: Project, worktree_root: Path, git_repo: Path
) -> None:
    attempt = attempt_with_commits(make_task(project, "t1"), [{"a.txt": "a\n"}])
    outside = Path(attempt.worktree_path)
    (worktree_root / "demo").mkdir(parents=True)
    link = worktree_root / "demo" / "link"
    link.symlink_to(outside)
    (worktree_root / "elsewhere").symlink_to(outside.parent)  # a symlinked folder on the way
    before = tree_fingerprint(outside)

    for path in (link, worktree_root / "elsewhere" / outside.name):
        Attempt.objects.filter(id=attempt.id).update(worktree_path=str(path))
        body = assert_error(archive(api, attempt.id), 409, "CONFLICT")
        assert body["details"]["reason"] == "outside_root"

    assert tree_fingerprint(outside) == before and link.is_symlink()


def test_a_folder_in_the_root_that_is_not_its_worktree_is_refused(
    db: None, api: APIClient, project: Project, worktree_root: Path
) -> None:
    attempt = attempt_with_commits(make_task(project, "t1"), [{"a.txt": "a\n"}])
    impostor = worktree_root / "demo" / "impostor"
    impostor.mkdir(parents=True)
    (impostor / "data.txt").write_text("not a worktree\n")
    Attempt.objects.filter(id=attempt.id).update(worktree_path=str(impostor))

    body = assert_error(archive(api, attempt.id), 409, "CONFLICT")

    assert body["details"]["reason"] == "not_a_worktree"
    assert (impostor / "data.txt").read_text() == "not a worktree\n"


def test_archive_of_bad_and_unknown_ids(db: None, api: APIClient) -> None:
    assert_error(archive(api, "bad id!"), 400, "BAD_REQUEST")
    assert_error(archive(api, "att-unknown"), 404, "NOT_FOUND")


def test_disk_usage_is_measured_after_each_run_and_summed_per_project(
    work: str, api: APIClient, project: Project, worktree_root: Path
) -> None:
    first = finished_attempt(api, "head -c 5000 /dev/zero > big.bin; echo done")
    second = finished_attempt(api, "echo small > small.txt; echo done", task_id="t2")
    sizes = [folder_bytes(Path(a.worktree_path)) for a in (first, second)]

    shown = api.get(f"/api/v1/attempts/{first.id}").json()["worktree"]
    project_view = api.get("/api/v1/projects/demo").json()["worktrees"]
    page = api.get("/ui/").content.decode().split('href="/ui/projects/demo/"')[1]
    shown_size = page.split("</tr>")[0].rsplit('<td class="num">', 1)[1].split("</td>")[0]

    assert shown["present"] is True and shown["path"] == first.worktree_path
    assert shown["disk_bytes"] == sizes[0] > 5000 and shown["measured_at"]
    assert project_view["present"] == 2 and project_view["archived"] == 0
    assert project_view["disk_bytes"] == sum(sizes)
    size = shown_size.replace("\xa0", " ")
    assert size in ("%.1f KB" % (sum(sizes) / 1024), f"{sum(sizes)} bytes")
    assert archive(api, first.id).status_code == 200
    after = api.get("/api/v1/projects/demo").json()["worktrees"]
    assert after["present"] == 1 and after["archived"] == 1 and after["disk_bytes"] == sizes[1]


def test_a_worktree_outside_the_root_is_not_measured(
    db: None, project: Project, worktree_root: Path
) -> None:
    from runs.workspace import worktree_measure

    attempt = attempt_with_commits(make_task(project, "t1"), [{"a.txt": "a\n"}])

    worktree_measure(attempt)

    attempt.refresh_from_db()
    assert attempt.worktree_disk_bytes is None
    assert os.path.isdir(attempt.worktree_path)
    assert storage.worktree_root() == worktree_root
