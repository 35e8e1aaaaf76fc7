"""`GET /api/v1/tasks`, the whole list (the contract has no paging), read in one query and
written a batch at a time: the bytes DRF's renderer would write for the same data, every run
newest first, and times read as text exactly as the datetimes would write them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import F
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from conductor_site.db_functions import utc_text
from projects.models import Project
from runs.models import Attempt, Run, RunStatus
from runs.selectors import rfc3339
from tasks.models import Task
from tests.projects.builders import assert_rfc3339_utc, make_run, make_task

SUMMARY = 'é ✓ "quoted" back\\slash\nnew line \u2028 \u2029 \x01 end'


def test_the_body_is_what_the_renderer_writes_for_it(
    db: None, api: APIClient, project: Project
) -> None:
    for n in range(250):  # past two batches
        task = make_task(project, f"t{n:03}", depends_on=["t000"] if n % 7 == 1 else [])
        if n % 3:
            run = make_run(task, RunStatus.FAILED)
            Run.objects.filter(id=run.id).update(error_summary=SUMMARY)

    response = api.get("/api/v1/tasks?project_id=demo")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content == JSONRenderer().render(json.loads(response.content))
    tasks = response.json()["tasks"]
    assert [task["task_id"] for task in tasks] == [f"t{n:03}" for n in range(250)]
    assert tasks[1]["depends_on"] == ["t000"] and tasks[1]["runs"][0]["error_summary"] == SUMMARY
    assert b"\\u2028" in response.content and "\u2028".encode() not in response.content


def test_every_task_lists_its_agent_runs_newest_first(
    db: None, api: APIClient, project: Project
) -> None:
    idle, two_attempts = make_task(project, "idle"), make_task(project, "two")
    older = make_run(two_attempts, RunStatus.FAILED, age=timedelta(minutes=5))
    make_run(two_attempts, kind=Run.Kind.SETUP, attempt=older.attempt)
    newer = make_run(two_attempts, RunStatus.SUCCESS, age=timedelta(minutes=1))
    Attempt.objects.create(task=idle, agent="shell", status=RunStatus.FAILED)  # no runs

    listed = {t["task_id"]: t for t in api.get("/api/v1/tasks?project_id=demo").json()["tasks"]}

    assert listed["idle"]["runs"] == [] and listed["idle"]["status"] == "idle"
    assert [run["run_id"] for run in listed["two"]["runs"]] == [newer.id, older.id]
    assert listed["two"]["status"] == "completed"
    assert newer.ended_at is not None
    assert listed["two"]["last_activity"] == rfc3339(max(newer.ended_at, two_attempts.updated_at))


def test_a_task_that_waits_for_a_slot_is_queued_in_the_list(
    db: None, api: APIClient, project: Project
) -> None:
    task = make_task(project, "waits")
    attempt = Attempt.objects.create(task=task, agent="shell", status=RunStatus.CREATED)
    Run.objects.create(attempt=attempt, kind=Run.Kind.AGENT, status=RunStatus.CREATED)

    (listed,) = api.get("/api/v1/tasks?project_id=demo").json()["tasks"]

    assert listed["status"] == "queued" and listed["queue_position"] == 1


def test_times_read_as_text_write_as_the_datetimes_do(db: None, project: Project) -> None:
    """Whole seconds (no fraction), a microsecond, half a second: the same RFC 3339 string
    from the text as from the datetime, and the text sorts as the times do."""
    base = datetime(2026, 12, 1, 11, 6, 40, tzinfo=UTC)
    times = [base, base + timedelta(microseconds=1), base + timedelta(milliseconds=500)]
    for n, at in enumerate(times):
        Task.objects.filter(pk=make_task(project, f"t{n}").pk).update(done_at=at)

    texts = list(Task.objects.order_by("task_id").values_list(utc_text("done_at"), flat=True))

    assert [rfc3339(text) for text in texts] == [rfc3339(at) for at in times]
    assert sorted(texts) == texts and rfc3339(texts[0]) == "2026-12-01T11:06:40Z"
    assert [assert_rfc3339_utc(rfc3339(text)) for text in texts] == times


def test_a_browser_still_gets_the_browsable_api(db: None, api: APIClient, project: Project) -> None:
    make_run(make_task(project, "t1"))

    page = api.get("/api/v1/tasks?project_id=demo", HTTP_ACCEPT="text/html")

    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert b"t1" in page.content


def test_the_list_is_oldest_first_whatever_the_ids(
    db: None, api: APIClient, project: Project
) -> None:
    for task_id in ("b", "a", "c"):
        make_task(project, task_id)
    Task.objects.filter(task_id="c").update(created_at=F("created_at") - timedelta(days=1))

    tasks = api.get("/api/v1/tasks?project_id=demo").json()["tasks"]

    assert [task["task_id"] for task in tasks] == ["c", "b", "a"]


def test_the_whole_list_is_one_query(
    db: None, api: APIClient, project: Project, django_assert_num_queries: Any
) -> None:
    for n in range(30):
        task = make_task(project, f"t{n}")
        for _ in range(n % 3):
            make_run(task)

    with django_assert_num_queries(1):
        response = api.get("/api/v1/tasks?project_id=demo")

    assert [len(task["runs"]) for task in response.json()["tasks"]] == [n % 3 for n in range(30)]
