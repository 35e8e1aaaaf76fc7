"""When worktrees go and come back (runs/archive.py): after a merge (unless configured off),
after an idle expiry (by the worker's housekeeping), orphans when a worker starts, and a
follow-up that makes an archived (or vanished) worktree again from its branch."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from projects.models import Project
from runs.archive import worktree_orphans_clean
from runs.models import Attempt, Run
from runs.supervisor import Supervisor
from tests.conftest import attempt_finished, create_task, run_finished, wait_for
from tests.helpers import git_cli, tree_fingerprint
from tests.projects.builders import finished_attempt


def archived(attempt_id: str) -> Attempt | None:
    attempt = Attempt.objects.get(id=attempt_id)
    return attempt if attempt.worktree_archived_at else None


def test_a_merge_archives_the_worktree_and_keeps_the_branch(
    work: str, api: APIClient, project: Project, worktree_root: Path, git_repo: Path
) -> None:
    attempt = finished_attempt(api, "echo one > one.txt; echo Add one")

    response = api.post(f"/api/v1/attempts/{attempt.id}/merge", {}, format="json")

    assert response.status_code == 200, response.content
    done = wait_for(lambda: archived(attempt.id), what="the merged worktree to be archived")
    assert done.worktree_archived_reason == "merged"
    assert not Path(attempt.worktree_path).exists()
    assert git_cli(git_repo, "branch", "--list", attempt.branch).strip()
    assert (git_repo / "one.txt").read_text() == "one\n"  # the user's tree, brought up to date


def test_with_removal_after_merge_off_the_worktree_stays(
    work: str, api: APIClient, project: Project, worktree_root: Path, settings: Any
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "REMOVE_WORKTREE_AFTER_MERGE": False}
    attempt = finished_attempt(api, "echo one > one.txt; echo Add one")

    response = api.post(f"/api/v1/attempts/{attempt.id}/merge", {}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["worktree"]["present"] is True
    assert Path(attempt.worktree_path).is_dir()
    later = api.post(f"/api/v1/attempts/{attempt.id}/archive", format="json").json()
    assert later["archived"]["reason"] == "requested" and later["archived"]["removed"] is True


def test_idle_expiry_archives_an_idle_attempt_and_leaves_an_active_one(
    work: str, api: APIClient, project: Project, worktree_root: Path, settings: Any
) -> None:
    idle = finished_attempt(api, "echo one > one.txt; echo done")
    (Path(idle.worktree_path) / "left.txt").write_text("uncommitted\n")
    busy_run = create_task(api, task_id="t2", prompt="while [ ! -e go ]; do sleep 0.05; done")
    busy = wait_for(
        lambda: (
            Attempt.objects.filter(runs__id=busy_run["run_id"], status="running")
            .exclude(worktree_path="")
            .first()
        ),
        what="the second agent to run",
    )
    long_ago = timezone.now() - timedelta(days=10)
    for attempt in (idle, busy):
        Attempt.objects.filter(id=attempt.id).update(created_at=long_ago)
        Run.objects.filter(attempt=attempt).update(created_at=long_ago, ended_at=long_ago)

    settings.CONDUCTOR = {**settings.CONDUCTOR, "WORKTREE_IDLE_DAYS": 7.0}

    done = wait_for(lambda: archived(idle.id), what="housekeeping to archive the idle worktree")
    assert done.worktree_archived_reason == "idle"
    assert not Path(idle.worktree_path).exists()
    assert git_cli(project.project_root, "show", f"{idle.branch}:left.txt") == "uncommitted\n"
    assert Path(busy.worktree_path).is_dir() and archived(busy.id) is None
    (Path(busy.worktree_path) / "go").touch()
    run_finished(busy_run["run_id"])


def test_a_recent_attempt_is_not_idle(
    work: str, api: APIClient, project: Project, worktree_root: Path, settings: Any
) -> None:
    from runs.tasks import worktrees_idle_archive

    recent = finished_attempt(api, "echo one > one.txt; echo done")
    settings.CONDUCTOR = {**settings.CONDUCTOR, "WORKTREE_IDLE_DAYS": 7.0}

    assert worktrees_idle_archive(work, force=True) == 0
    assert Path(recent.worktree_path).is_dir() and archived(recent.id) is None


def test_a_follow_up_makes_an_archived_worktree_again_from_its_branch(
    work: str, api: APIClient, project: Project, worktree_root: Path, git_repo: Path
) -> None:
    attempt = finished_attempt(api, "echo one > one.txt; echo Add one")
    assert api.post(f"/api/v1/attempts/{attempt.id}/archive", format="json").status_code == 200

    response = api.post(
        f"/api/v1/attempts/{attempt.id}/follow-up",
        {"prompt": "cat one.txt > copy.txt; echo Copy one"},
        format="json",
    )

    assert response.status_code == 201, response.content
    run = run_finished(response.json()["run_id"])
    attempt_finished(attempt.id)  # its commit made
    assert run.status == "success", run.error_summary
    assert (Path(attempt.worktree_path) / "copy.txt").read_text() == "one\n"
    assert git_cli(git_repo, "show", f"{attempt.branch}:copy.txt") == "one\n"
    shown = api.get(f"/api/v1/attempts/{attempt.id}").json()["worktree"]
    assert shown["present"] is True and shown["archived_at"] is None


def test_a_follow_up_makes_a_vanished_worktree_again(
    work: str, api: APIClient, project: Project, worktree_root: Path, git_repo: Path
) -> None:
    """Someone deleted the folder by hand: git still has it registered."""
    attempt = finished_attempt(api, "echo one > one.txt; echo Add one")
    shutil.rmtree(attempt.worktree_path)

    response = api.post(
        f"/api/v1/attempts/{attempt.id}/follow-up",
        {"prompt": "echo two > two.txt; echo Add two"},
        format="json",
    )

    run = run_finished(response.json()["run_id"])
    attempt_finished(attempt.id)
    assert run.status == "success", run.error_summary
    assert git_cli(git_repo, "show", f"{attempt.branch}:one.txt") == "one\n"
    assert git_cli(git_repo, "show", f"{attempt.branch}:two.txt") == "two\n"


def test_a_failing_post_checkout_hook_fails_the_attempt_and_forgets_no_users_worktree(
    work: str, api: APIClient, project: Project, worktree_root: Path, git_repo: Path, tmp_path: Path
) -> None:
    """The user's own worktree is on a disk not mounted now; their post-checkout hook fails
    for every checkout."""
    git_cli(git_repo, "worktree", "add", "-q", str(tmp_path / "usb" / "mine"), "-b", "mine")
    (tmp_path / "usb").rename(tmp_path / "usb-unmounted")
    hook = git_repo / ".git" / "hooks" / "post-checkout"
    hook.write_text("#!/bin/sh\necho 'husky: command not found' >&2\nexit 1\n")
    hook.chmod(0o755)

    attempt = finished_attempt(api, "echo one > one.txt")

    assert attempt.status == "failed"
    assert (git_repo / ".git" / "worktrees" / "mine" / "gitdir").is_file()
    assert "post-checkout hook failed" in attempt.error_summary
    assert "husky: command not found" in attempt.error_summary
    assert list(worktree_root.rglob(".git")) == []


def orphan_setup(worktree_root: Path, repo: Path, tmp_path: Path) -> dict[str, Path]:
    """Under the root: an orphan worktree with uncommitted work, a plain folder, a symlink out,
    and a registration whose folder is gone; outside it, a user's worktree whose folder is
    away for now (its registration must stay)."""
    orphan = worktree_root / "demo" / "deadbeef-orphan"
    git_cli(repo, "worktree", "add", "-q", "-b", "conductor/deadbeef-orphan", str(orphan))
    (orphan / "work.txt").write_text("uncommitted\n")
    plain = worktree_root / "demo" / "plain"
    plain.mkdir()
    (plain / "keep.txt").write_text("mine\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    (worktree_root / "demo" / "link").symlink_to(outside)
    stale = worktree_root / "demo" / "cafecafe-stale"
    git_cli(repo, "worktree", "add", "-q", "-b", "conductor/cafecafe-stale", str(stale))
    shutil.rmtree(stale)
    away = tmp_path / "users-own-worktree"
    git_cli(repo, "worktree", "add", "-q", "-b", "users-branch", str(away))
    shutil.rmtree(away)
    return {"orphan": orphan, "plain": plain, "outside": outside, "stale": stale, "away": away}


def test_orphans_under_the_root_are_archived_and_nothing_else_is_touched(
    db: None, project: Project, worktree_root: Path, git_repo: Path, tmp_path: Path
) -> None:
    paths = orphan_setup(worktree_root, git_repo, tmp_path)
    before = tree_fingerprint(paths["plain"]), tree_fingerprint(paths["outside"])

    assert worktree_orphans_clean() == 1

    listed = git_cli(git_repo, "worktree", "list")
    assert not paths["orphan"].exists()
    assert git_cli(git_repo, "show", "conductor/deadbeef-orphan:work.txt") == "uncommitted\n"
    assert str(paths["stale"]) not in listed  # a stale registration under the root: forgotten
    assert str(paths["away"]) in listed  # the user's own, outside the root: kept
    assert (tree_fingerprint(paths["plain"]), tree_fingerprint(paths["outside"])) == before
    assert (worktree_root / "demo" / "link").is_symlink()


def test_a_worktree_an_attempt_has_is_no_orphan(
    work: str, api: APIClient, project: Project, worktree_root: Path
) -> None:
    attempt = finished_attempt(api, "echo one > one.txt; echo done")

    assert worktree_orphans_clean() == 0
    assert Path(attempt.worktree_path).is_dir()


def test_a_starting_worker_cleans_the_orphans(
    work: str, project: Project, worktree_root: Path, git_repo: Path, tmp_path: Path
) -> None:
    paths = orphan_setup(worktree_root, git_repo, tmp_path)
    worker = Supervisor("orphan-cleaner")

    worker.start()
    try:
        wait_for(lambda: not paths["orphan"].exists(), what="the orphan to be archived")
    finally:
        worker.shutdown()

    assert git_cli(git_repo, "show", "conductor/deadbeef-orphan:work.txt") == "uncommitted\n"
    assert (paths["plain"] / "keep.txt").read_text() == "mine\n"
