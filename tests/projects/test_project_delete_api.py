"""DELETE a run, a task or a project: 204/200 from curl, 403 from a browser, 409 while
something runs, 404 when unknown."""

from __future__ import annotations

import os
import shutil
import time
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from messagebus.models import Message
from projects import selectors, storage
from projects.models import AgentProfile, Project
from runs import services as run_services
from runs.files import run_folder
from runs.models import LogChunk, Run, RunStatus
from tasks import services as task_services
from tasks.models import Task
from tests.conftest import create_task, log_text, wait_for
from tests.helpers import assert_error, git_cli
from tests.projects.builders import (
    BROWSER_CONTEXTS,
    finished_task,
    make_run,
    make_task,
)


def delete(api: APIClient, path: str, **headers: Any) -> Any:
    return api.delete(f"/api/projects/{path}", **headers)


def worktree_gone(repo: Path, worktree: Path) -> bool:
    """The folder, and git's registration of it (the main checkout alone is listed): `git
    worktree remove` deletes the folder first, so a folder gone alone is a removal under way."""
    listed = git_cli(repo, "worktree", "list", "--porcelain")
    return not worktree.exists() and listed.count("worktree ") == 1


# Runs.


def test_deleting_a_finished_run_removes_its_row_logs_and_folder(
    work: str, api: APIClient, project: Project
) -> None:
    run_id = finished_task(api, "del-run", "echo bye")
    folder = run_folder(Run.objects.select_related("attempt__task").get(id=run_id))
    assert folder.is_dir()

    response = delete(api, f"demo/tasks/del-run/runs/{run_id}")

    assert response.status_code == 204, response.content
    assert response.content == b""
    assert not Run.objects.filter(id=run_id).exists()
    assert not LogChunk.objects.filter(run_id=run_id).exists()
    assert not folder.exists()
    assert Task.objects.filter(task_id="del-run").exists(), "the task stays"
    assert_error(api.get(f"/api/projects/demo/tasks/del-run/runs/{run_id}"), 404, "NOT_FOUND")


@pytest.mark.parametrize("status", [RunStatus.CREATED, RunStatus.QUEUED, RunStatus.RUNNING])
def test_an_active_run_is_409(db: None, api: APIClient, project: Project, status: str) -> None:
    run = make_run(make_task(project, "del-active"), status)

    error = assert_error(delete(api, f"demo/tasks/del-active/runs/{run.id}"), 409, "CONFLICT")

    assert error["details"]["status"] == status
    assert Run.objects.filter(id=run.id).exists()


@pytest.mark.parametrize("status", [RunStatus.STOPPED, RunStatus.CRASHED, RunStatus.FAILED])
def test_any_ended_run_can_be_deleted(
    db: None, api: APIClient, project: Project, status: str
) -> None:
    run = make_run(make_task(project, "del-ended"), status)

    assert delete(api, f"demo/tasks/del-ended/runs/{run.id}").status_code == 204


@pytest.mark.parametrize("context", BROWSER_CONTEXTS)
def test_a_browser_cannot_delete_a_run(
    db: None, api: APIClient, project: Project, context: str
) -> None:
    run = make_run(make_task(project, "del-browser"))

    response = delete(api, f"demo/tasks/del-browser/runs/{run.id}", **BROWSER_CONTEXTS[context])

    assert_error(response, 403, "FORBIDDEN")
    assert Run.objects.filter(id=run.id).exists()


def test_run_delete_unknown_and_invalid_ids(db: None, api: APIClient, project: Project) -> None:
    make_task(project, "del-ids")

    assert_error(delete(api, "demo/tasks/del-ids/runs/run-x"), 404, "NOT_FOUND")
    assert_error(delete(api, "demo/tasks/nope/runs/run-x"), 404, "NOT_FOUND")
    assert_error(delete(api, "demo/tasks/del-ids/runs/bad.id"), 400, "BAD_REQUEST")


# Tasks.


def test_deleting_a_task_removes_its_rows_folder_and_worktree_but_keeps_its_branch(
    work: str, api: APIClient, project: Project
) -> None:
    run_id = finished_task(api, "del-task", "echo work > file.txt")
    attempt = Run.objects.get(id=run_id).attempt
    worktree, repo = Path(attempt.worktree_path), Path(project.project_root)
    posted = api.post("/api/projects/demo/tasks/del-task/messages", {"body": "note"}, format="json")
    assert posted.status_code == 201, posted.content
    folder = storage.task_dir("demo", "del-task")
    assert folder.is_dir() and worktree.is_dir()

    response = delete(api, "demo/tasks/del-task")

    assert response.status_code == 204, response.content
    assert response.content == b""
    assert not Task.objects.filter(task_id="del-task").exists()
    assert not Run.objects.filter(id=run_id).exists()
    assert not Message.objects.filter(task__task_id="del-task").exists()
    assert not folder.exists()
    assert_error(api.get("/api/projects/demo/tasks/del-task"), 404, "NOT_FOUND")
    wait_for(partial(worktree_gone, repo, worktree), what="the worker to remove the worktree")
    assert git_cli(repo, "show", f"{attempt.branch}:file.txt") == "work\n"


def test_uncommitted_work_in_a_deleted_tasks_worktree_is_committed_on_its_branch(
    work: str, api: APIClient, project: Project
) -> None:
    attempt = Run.objects.get(id=finished_task(api, "del-dirty", "true")).attempt
    worktree, repo = Path(attempt.worktree_path), Path(project.project_root)
    (worktree / "late.txt").write_text("written after the agent\n")

    assert delete(api, "demo/tasks/del-dirty").status_code == 204

    wait_for(lambda: not worktree.exists(), what="the worker to remove the worktree")
    assert git_cli(repo, "show", f"{attempt.branch}:late.txt") == "written after the agent\n"
    assert "WIP" in git_cli(repo, "log", "-1", "--format=%s", attempt.branch)


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.RUNNING])
def test_a_task_with_an_active_run_is_409(
    db: None, api: APIClient, project: Project, status: str
) -> None:
    task = make_task(project, "del-busy")
    make_run(task)
    make_run(task, status)

    assert_error(delete(api, "demo/tasks/del-busy"), 409, "CONFLICT")
    assert Task.objects.filter(id=task.id).exists()
    assert storage.task_dir("demo", "del-busy").is_dir()


def test_a_task_whose_attempt_a_merge_holds_is_409_once_the_merge_outlasts_a_stop(
    db: None, api: APIClient, project: Project
) -> None:
    """A merge, rebase or archive works in the attempt's worktree and records on its row: a
    delete meanwhile took both from under it (a merge that landed answered 500)."""
    task = make_task(project, "del-landing")
    attempt = make_run(task).attempt
    assert run_services.attempt_operation_begin(attempt.id, "merge") is not None

    error = assert_error(delete(api, "demo/tasks/del-landing"), 409, "CONFLICT")

    assert "merge" in error["error"]
    assert Task.objects.filter(id=task.id).exists()
    assert storage.task_dir("demo", "del-landing").is_dir()


def test_a_task_is_deleted_once_the_operation_holding_it_ended(
    db: None, api: APIClient, project: Project
) -> None:
    """The archive right after a merge holds the attempt for a moment: a delete then waits
    for it rather than refuse the user who deletes a task just merged."""
    task = make_task(project, "del-after-merge")
    attempt = make_run(task).attempt
    token = run_services.attempt_operation_begin(attempt.id, "archive")
    assert token is not None
    waits: list[float] = []

    def archive_ends(seconds: float) -> None:  # the delete's first wait: the archive ends
        waits.append(seconds)
        run_services.attempt_operation_end(attempt.id, "archive", token)

    clock = SimpleNamespace(monotonic=time.monotonic, sleep=archive_ends)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(task_services, "time", clock)
        response = delete(api, "demo/tasks/del-after-merge")

    assert response.status_code == 204, response.content
    assert waits and not Task.objects.filter(id=task.id).exists()


@pytest.mark.parametrize("context", BROWSER_CONTEXTS)
def test_a_browser_cannot_delete_a_task(
    db: None, api: APIClient, project: Project, context: str
) -> None:
    make_task(project, "del-task-browser")

    response = delete(api, "demo/tasks/del-task-browser", **BROWSER_CONTEXTS[context])

    assert_error(response, 403, "FORBIDDEN")
    assert Task.objects.filter(task_id="del-task-browser").exists()


def test_task_delete_unknown_and_invalid_ids(db: None, api: APIClient, project: Project) -> None:
    assert_error(delete(api, "demo/tasks/nope"), 404, "NOT_FOUND")
    assert_error(delete(api, "ghost/tasks/nope"), 404, "NOT_FOUND")
    assert_error(delete(api, "demo/tasks/bad.id"), 400, "BAD_REQUEST")


# Projects.


def test_deleting_a_project_reports_what_it_freed(
    db: None, api: APIClient, project: Project
) -> None:
    make_run(make_task(project, "del-p1"), stdout="x" * 100)
    make_task(project, "del-p2")
    folder = storage.project_dir("demo")
    (folder / "PROJECT-ROOT.txt").write_text(project.project_root + "\n")

    response = delete(api, "demo")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["project_id"], body["deleted_tasks"]) == ("demo", 2)
    assert body["freed_bytes"] >= 100
    assert not Project.objects.filter(id="demo").exists()
    assert not Task.objects.exists() and not Run.objects.exists()
    assert not folder.exists()
    assert Path(project.project_root).is_dir(), "the repository is never touched"


@pytest.mark.django_db(transaction=True)
def test_a_projects_folder_is_removed_once_its_delete_committed(
    api: APIClient, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not inside the transaction: the bus's and the event log's locks (SQLite: the whole
    database) were held while a folder of gigabytes of logs went."""
    make_run(make_task(project, "del-late"), stdout="x" * 100)
    folder = storage.project_dir("demo")
    seen: list[tuple[bool, bool, bool]] = []
    folder_remove = storage.folder_remove

    def removing(path: Path) -> None:
        if path.parent == storage.trash_dir():
            in_transaction = connection.in_atomic_block
            seen.append(
                (in_transaction, Project.objects.filter(id="demo").exists(), folder.exists())
            )
        folder_remove(path)

    monkeypatch.setattr(storage, "folder_remove", removing)

    assert delete(api, "demo").status_code == 200
    assert seen == [(False, False, False)]
    assert list(storage.trash_dir().iterdir()) == []


def test_deleting_a_project_removes_its_worktrees_and_keeps_the_branches(
    work: str, api: APIClient, project: Project
) -> None:
    attempts = [
        Run.objects.get(id=finished_task(api, name, f"echo {name} > {name}.txt")).attempt
        for name in ("one", "two")
    ]

    assert delete(api, "demo").status_code == 200

    worktrees = [Path(attempt.worktree_path) for attempt in attempts]
    wait_for(lambda: not any(w.exists() for w in worktrees), what="the worktrees' removal")
    for attempt in attempts:
        assert git_cli(project.project_root, "branch", "--list", attempt.branch).strip()


def test_a_project_with_active_runs_is_409_without_force(
    db: None, api: APIClient, project: Project
) -> None:
    make_run(make_task(project, "del-p-busy"), RunStatus.RUNNING)

    error = assert_error(delete(api, "demo"), 409, "CONFLICT")

    assert "force" in error["error"]
    assert Project.objects.filter(id="demo").exists()


def test_a_project_whose_task_started_while_its_folder_was_measured_is_kept(
    db: None, api: APIClient, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check before the delete ran outside its transaction (measuring a big project's
    folder takes seconds): a run started meanwhile lost its rows and its worktree mid-run."""
    run = make_run(make_task(project, "del-p-late"))
    measure = selectors.project_bytes

    def started_meanwhile(project: Project) -> int:  # a follow-up, say, claimed by a worker
        Run.objects.filter(id=run.id).update(status=RunStatus.RUNNING)
        return measure(project)

    monkeypatch.setattr(selectors, "project_bytes", started_meanwhile)

    assert_error(delete(api, "demo"), 409, "CONFLICT")
    assert Run.objects.get(id=run.id).status == RunStatus.RUNNING
    assert storage.project_dir("demo").is_dir()


def test_force_stops_what_runs_then_deletes(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile, hang_guard: None
) -> None:
    run_id = create_task(api, task_id="del-force", agent_type="fake-claude", prompt="hang")[
        "run_id"
    ]
    wait_for(lambda: "hanging" in log_text(run_id), what="the agent to hang")

    response = api.delete("/api/projects/demo?force=true")

    assert response.status_code == 200, response.content
    assert response.json()["deleted_tasks"] == 1
    assert not Project.objects.filter(id="demo").exists()
    assert not Run.objects.filter(id=run_id).exists()


@pytest.mark.parametrize("context", BROWSER_CONTEXTS)
def test_a_browser_cannot_delete_a_project(
    db: None, api: APIClient, project: Project, context: str
) -> None:
    assert_error(delete(api, "demo", **BROWSER_CONTEXTS[context]), 403, "FORBIDDEN")
    assert Project.objects.filter(id="demo").exists()


def test_project_delete_unknown_and_invalid(db: None, api: APIClient) -> None:
    assert_error(delete(api, "nope"), 404, "NOT_FOUND")
    assert_error(delete(api, "bad.id"), 400, "BAD_REQUEST")
    Project.objects.create(id="p-force")
    assert_error(api.delete("/api/projects/p-force?force=maybe"), 400, "BAD_REQUEST")


def test_a_task_folder_swapped_for_a_symlink_is_unlinked_not_emptied(
    db: None, api: APIClient, project: Project, tmp_path: Path
) -> None:
    make_task(project, "del-link")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("the user's\n")
    folder = storage.task_dir("demo", "del-link")
    shutil.rmtree(folder)
    folder.symlink_to(elsewhere)

    response = delete(api, "demo/tasks/del-link")

    assert response.status_code == 204, response.content
    assert not os.path.lexists(folder)
    assert (elsewhere / "keep.txt").read_text() == "the user's\n"


def test_a_project_folder_swapped_for_a_symlink_is_never_emptied_through_it(
    db: None, api: APIClient, project: Project, tmp_path: Path
) -> None:
    make_task(project, "del-above")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "del-above").mkdir(parents=True)
    (elsewhere / "del-above" / "keep.txt").write_text("the user's\n")
    folder = storage.project_dir("demo")
    shutil.rmtree(folder)
    folder.symlink_to(elsewhere)

    response = delete(api, "demo/tasks/del-above")

    error = assert_error(response, 409, "CONFLICT")
    assert "is a symlink, refused" in error["error"]
    assert (elsewhere / "del-above" / "keep.txt").read_text() == "the user's\n"
    assert Task.objects.filter(task_id="del-above").exists(), "nothing half-deleted"
