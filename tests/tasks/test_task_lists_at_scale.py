"""The task lists at any length (issue 8 §2): a fixed number of queries, nothing read from
the task folders, and the DONE marker's state kept in the database, where the worker that ran
the task records it."""

from __future__ import annotations

import builtins
import importlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from projects import storage
from projects.models import Project
from runs.models import RunStatus
from tasks.list_sql import task_batches, task_page
from tasks.models import Task
from tasks.services import task_done_record
from tests.conftest import create_task, wait_for
from tests.projects.builders import finished_task, make_run, make_task

LISTS = (
    "/api/v1/tasks?project_id=demo",
    "/api/projects/demo/tasks?limit=200",
    "/api/projects/demo/tasks?status=done&limit=200",
    "/api/projects/demo/tasks?status=failed",
)


def tasks_in_every_state(project: Project, start: int, count: int) -> None:
    """`count` tasks: finished, failed, running, a finished loop that wrote DONE, unrun."""
    for n in range(start, start + count):
        task = make_task(project, f"t{n}", config={"loop": True} if n % 5 == 3 else {})
        if n % 5 == 0:
            make_run(task)
        elif n % 5 == 1:
            make_run(task, RunStatus.FAILED, exit_code=2)
        elif n % 5 == 2:
            make_run(task, RunStatus.RUNNING)
        elif n % 5 == 3:
            make_run(task)
            (storage.task_dir(project.id, task.task_id) / "DONE").touch()
            Task.objects.filter(id=task.id).update(done_at=task.created_at)


def read_all(api: APIClient) -> list[Any]:
    bodies = []
    for path in LISTS:
        response = api.get(path)
        assert response.status_code == 200, response.content
        bodies.append(response.json())
    return bodies


def test_the_lists_make_a_fixed_number_of_queries(
    db: None, api: APIClient, project: Project, django_assert_max_num_queries: Any
) -> None:
    tasks_in_every_state(project, 0, 5)
    with CaptureQueriesContext(connection) as few:
        read_all(api)
    tasks_in_every_state(project, 5, 60)

    with django_assert_max_num_queries(len(few.captured_queries)):
        bodies = read_all(api)

    assert len(bodies[0]["tasks"]) == 65 and bodies[1]["total"] == 65
    assert bodies[2]["total"] == 13 and bodies[3]["total"] == 13


def test_a_page_and_the_whole_list_are_one_statement_each(
    db: None, project: Project, django_assert_num_queries: Any
) -> None:
    """Raw SQL: the page, its runs and the project's count in one; the whole list in one (a
    task that waits for a slot would add the planner's)."""
    tasks_in_every_state(project, 0, 30)

    with django_assert_num_queries(1):
        items, total = task_page(project.id, status=None, limit=20, offset=5)
    with django_assert_num_queries(1):
        _, empty = task_page(project.id, status=None, limit=20, offset=40)
    with django_assert_num_queries(1):
        listed = [
            task for batch in task_batches(Task.objects.filter(project=project)) for task in batch
        ]

    assert (len(items), total, empty, len(listed)) == (20, 30, 30, 30)


def test_the_task_page_route_builds_no_project_model(
    db: None, api: APIClient, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It checks the project exists without loading it (building the model cost more than
    the page's own statement); an unknown one is still a 404."""
    tasks_in_every_state(project, 0, 3)
    built: list[str] = []
    from_db = Project.from_db.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Project], *args: Any) -> Project:
        built.append("project")
        return from_db(cls, *args)

    monkeypatch.setattr(Project, "from_db", classmethod(counted))
    page = api.get(f"/api/projects/{project.id}/tasks?limit=2")
    missing = api.get("/api/projects/nope/tasks")

    assert page.status_code == 200 and page.json()["total"] == 3, page.content
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    assert built == []


@contextmanager
def filesystem_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What `os.stat`, `os.lstat`, `os.open`, `os.scandir` and `open` are asked meanwhile;
    each still calls the real one."""
    calls: list[str] = []

    def counted(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(path: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(f"{name} {path}")
            return real(path, *args, **kwargs)

        return call

    for module, name in ((os, "stat"), (os, "lstat"), (os, "open"), (os, "scandir")):
        monkeypatch.setattr(module, name, counted(name, getattr(module, name)))
    monkeypatch.setattr(builtins, "open", counted("open", builtins.open))
    yield calls
    monkeypatch.undo()


def test_the_lists_read_nothing_from_the_task_folders(
    db: None, api: APIClient, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks_in_every_state(project, 0, 20)
    expected = read_all(api)

    with filesystem_calls(monkeypatch) as calls:
        bodies = read_all(api)

    assert calls == []
    assert bodies == expected
    done = [task["task_id"] for task in bodies[0]["tasks"] if task["done"]]
    assert done == ["t3", "t8", "t13", "t18"]
    assert {t["status"] for t in bodies[0]["tasks"] if t["task_id"] in done} == {"completed"}


DONE_ON_FIRST_RUN = 'echo working; touch "$CONDUCTOR_TASK_DIR/DONE"'


def done_in_the_lists(api: APIClient) -> tuple[bool, bool]:
    (listed,) = api.get("/api/v1/tasks?project_id=demo").json()["tasks"]
    (item,) = api.get("/api/projects/demo/tasks").json()["items"]
    return listed["done"], item["done"]


def done_at() -> object:
    return Task.objects.get(task_id="t1").done_at


def test_done_round_trips_through_the_database(work: str, api: APIClient, project: Project) -> None:
    finished_task(api, "t1", DONE_ON_FIRST_RUN)
    wait_for(done_at, what="the worker to record DONE")
    assert done_in_the_lists(api) == (True, True)

    response = api.post("/api/projects/demo/tasks/t1/resume")

    assert response.status_code == 200, response.content
    assert done_at() is None
    assert not (storage.task_dir("demo", "t1") / "DONE").exists()
    assert done_in_the_lists(api) == (False, False)


def test_a_run_that_removes_done_clears_it(work: str, api: APIClient, project: Project) -> None:
    finished_task(api, "t1", DONE_ON_FIRST_RUN)
    wait_for(done_at, what="the worker to record DONE")

    create_task(api, attach_mode="resume", prompt='rm "$CONDUCTOR_TASK_DIR/DONE"')

    wait_for(lambda: done_at() is None, what="the follow-up's end to clear DONE")
    assert done_in_the_lists(api) == (False, False)


def test_done_is_kept_while_a_delete_has_set_the_task_folder_aside(
    db: None, project: Project, tmp_path: Any
) -> None:
    """A delete sets the folder aside before its last check, which may refuse it and put the
    folder back: a run's end judged by the folder meanwhile cleared DONE (and a Ralph loop ran
    again)."""
    task = make_task(project, "t1")
    (storage.task_dir("demo", "t1") / "DONE").touch()
    task_done_record(task)
    assert done_at() is not None
    os.rename(storage.task_dir("demo", "t1"), tmp_path / "aside")

    task_done_record(Task.objects.get(pk=task.pk))

    assert done_at() is not None


def test_the_migration_fills_done_from_the_task_folders(
    db: None, project: Project, tmp_path: Any
) -> None:
    marked, unmarked, linked = (make_task(project, name) for name in ("m1", "m2", "m3"))
    (storage.task_dir("demo", "m1") / "DONE").write_text("")
    (tmp_path / "DONE").write_text("")
    (storage.task_dir("demo", "m3") / "DONE").symlink_to(tmp_path / "DONE")
    migration = importlib.import_module("tasks.migrations.0004_task_done_at")

    migration.done_at_fill(apps, None)

    assert Task.objects.get(id=marked.id).done_at is not None
    assert Task.objects.get(id=unmarked.id).done_at is None
    assert Task.objects.get(id=linked.id).done_at is None, "a planted symlink is not DONE"
