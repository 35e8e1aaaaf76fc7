"""The two task lists read by raw SQL (issue 8 §2) answer the bytes the model-based reading
answers: `GET /api/v1/tasks` against each task's detail-route rules (`task_status`,
`queue_position`, `blocked_by`, `last_activity`, `run_to_api`, all read from models), and
the project's paged list against the ORM reading the board still uses (`task_rows`,
`task_items`), for every window and status filter. The project is seeded with what breaks
a hand-written statement: every run status, tasks waiting for a slot or on a dependency,
a Ralph loop done and not, nulls (no exit code, never started, no thread parent), unicode,
two attempts, an attempt without an agent run, equal creation times, and another project.

`tests/production/test_task_list_bytes.py` runs these on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from conductor_site.http import paged
from projects.models import Project
from runs.models import Attempt, Run, RunStatus
from runs.selectors import run_to_api
from tasks.list_sql import TASK_STATUS_FILTERS, matches_status
from tasks.models import Task
from tasks.selectors import (
    agent_runs,
    blocked_by,
    is_done,
    last_activity,
    queue_position,
    task_items,
    task_rows,
    task_status,
)
from tests.projects.builders import make_run, make_task

UNICODE = 'é ✓ 😀 "quoted" back\\slash\nnew line \u2028 \u2029 \x01 end'


def waiting_attempt(task: Task) -> Attempt:
    """An attempt that waits for the planner (not admitted), with its agent run."""
    attempt = Attempt.objects.create(task=task, agent="shell", status=RunStatus.CREATED)
    Run.objects.create(attempt=attempt, kind=Run.Kind.AGENT, status=RunStatus.CREATED)
    return attempt


def seed_tricky_project(project: Project) -> None:
    for status in RunStatus.values:  # every run status, one task each
        make_run(make_task(project, f"run-{status}"), status)
    make_task(project, "idle")
    waiting_attempt(make_task(project, "waits"))
    waiting_attempt(make_task(project, "blocked", depends_on=["run-running", "idle"]))
    done = make_task(project, "loop-done", config={"loop": True})
    make_run(done)
    Task.objects.filter(pk=done.pk).update(done_at=timezone.now())
    make_run(make_task(project, "loop-going", config={"loop": {"max_iterations": 3}}))
    crashed = make_run(make_task(project, "no-exit-code"), RunStatus.CRASHED)
    Run.objects.filter(pk=crashed.pk).update(exit_code=None, started_at=None)
    unicode = make_task(
        project,
        "unicode",
        depends_on=["idle"],
        thread_parent={"project_id": "demo", "task_id": "idle", "message_id": UNICODE},
    )
    failed = make_run(unicode, RunStatus.FAILED, exit_code=-9)
    Run.objects.filter(pk=failed.pk).update(error_summary=UNICODE, agent_version="v✓ 1.0")
    two = make_task(project, "two-attempts")
    older = make_run(two, RunStatus.FAILED, age=timedelta(minutes=5))
    make_run(two, kind=Run.Kind.SETUP, attempt=older.attempt)
    newest = make_run(two, RunStatus.SUCCESS, age=timedelta(minutes=1))
    tie = make_run(two, RunStatus.STOPPED, attempt=older.attempt)
    Run.objects.filter(pk=tie.pk).update(created_at=newest.created_at)  # ordered by id
    setup_only = make_task(project, "setup-only")
    Attempt.objects.create(task=setup_only, agent="shell", status=RunStatus.FAILED)
    make_run(setup_only, RunStatus.FAILED, kind=Run.Kind.SETUP)
    same_time = [make_task(project, f"same-time-{n}") for n in range(3)]
    Task.objects.filter(pk__in=[task.pk for task in same_time]).update(
        created_at=same_time[0].created_at
    )
    other = Project.objects.create(id="other")
    make_run(make_task(other, "elsewhere"), RunStatus.RUNNING)


def listed_by_models(task: Task) -> dict[str, Any]:
    """`/api/v1/tasks`' item of `task`, by the detail routes' model-based rules."""
    runs = agent_runs(task)
    return {
        "project_id": task.project_id,
        "task_id": task.task_id,
        "status": task_status(task, runs),
        "queue_position": queue_position(task),
        "last_activity": last_activity(task, runs),
        "depends_on": task.depends_on,
        "blocked_by": blocked_by(task),
        "thread_parent": task.thread_parent,
        "done": is_done(task),
        "runs": [run_to_api(run) for run in runs],
    }


def rendered(data: Any) -> bytes:
    return JSONRenderer().render(data)


def test_the_whole_list_answers_what_the_models_say(
    db: None, api: APIClient, project: Project
) -> None:
    seed_tricky_project(project)

    for path, tasks in (
        ("/api/v1/tasks?project_id=demo", Task.objects.filter(project=project)),
        ("/api/v1/tasks", Task.objects.all()),
    ):
        response = api.get(path)

        expected = [listed_by_models(task) for task in tasks.order_by("created_at", "id")]
        assert response.status_code == 200
        assert response.content == rendered({"tasks": expected})
    listed = {task["task_id"]: task for task in api.get(path).json()["tasks"]}
    assert {task["status"] for task in listed.values()} == {
        "running",
        "queued",
        "blocked",
        "completed",
        "failed",
        "idle",
    }
    assert listed["blocked"]["blocked_by"] == ["run-running", "idle"]
    assert listed["no-exit-code"]["runs"][0]["exit_code"] == -1


def page_by_the_orm(tasks: QuerySet[Task], limit: int, offset: int) -> dict[str, Any]:
    """The page as the board's ORM reading makes it (what `task_page` was before raw SQL)."""
    items = task_items(list(task_rows(tasks)[offset : offset + limit]))
    return paged(items, tasks.count(), limit, offset)


def filtered_by_the_orm(
    tasks: QuerySet[Task], status: str, limit: int, offset: int
) -> dict[str, Any]:
    matching = [item for item in task_items(list(task_rows(tasks))) if matches_status(item, status)]
    return paged(matching[offset : offset + limit], len(matching), limit, offset)


def test_every_page_answers_what_the_orm_reading_does(
    db: None, api: APIClient, project: Project
) -> None:
    seed_tricky_project(project)
    tasks = Task.objects.filter(project=project).order_by("-created_at", "-id")
    total = tasks.count()

    for limit, offset in ((50, 0), (1, 0), (7, 3), (5, total - 2), (10, total), (3, total + 9)):
        response = api.get(f"/api/projects/demo/tasks?limit={limit}&offset={offset}")

        assert response.status_code == 200
        assert response.content == rendered(page_by_the_orm(tasks, limit, offset)), (limit, offset)
    for status in TASK_STATUS_FILTERS:
        for limit, offset in ((50, 0), (2, 1)):
            response = api.get(
                f"/api/projects/demo/tasks?status={status}&limit={limit}&offset={offset}"
            )

            expected = filtered_by_the_orm(tasks, status, limit, offset)
            assert response.content == rendered(expected), (status, limit, offset)
    assert api.get("/api/projects/demo/tasks?status=blocked").json()["total"] == 1


def test_an_empty_project_has_an_empty_page(db: None, api: APIClient, project: Project) -> None:
    response = api.get("/api/projects/demo/tasks?limit=5&offset=2")

    assert response.json() == {"items": [], "total": 0, "limit": 5, "offset": 2, "has_more": False}
    assert api.get("/api/v1/tasks?project_id=demo").json() == {"tasks": []}
