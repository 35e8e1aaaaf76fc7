"""Every state change of a task, an attempt and a run is an event of the event log, written
in the change's own transaction: a real task run by the embedded worker, then cancelled and
deleted; a stop before the start; a change rolled back leaves no event."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from conductor_site.live.models import Event
from projects.models import Project
from runs.models import Run, RunStatus
from runs.services import run_claim, run_stop
from tasks.services import task_merged, task_move
from tests.conftest import attempt_finished, create_task, run_finished
from tests.projects.builders import make_run, make_task


def changes(**filters: Any) -> list[tuple[str, str, str]]:
    """(type, change, status or column) of each event, oldest first."""
    rows = Event.objects.filter(**filters).order_by("id").values_list("type", "payload")
    return [
        (kind, payload["change"], payload.get("status", payload.get("column", "")))
        for kind, payload in rows
    ]


def test_a_task_run_to_its_end_records_each_change_in_order(
    work: str, project: Project, api: APIClient
) -> None:
    run = run_finished(create_task(api, prompt="echo hi")["run_id"])
    attempt_finished(run.attempt_id)

    assert changes(project_id="demo") == [
        ("task.changed", "created", "todo"),
        ("attempt.changed", "created", "created"),
        ("run.changed", "created", "queued"),
        ("attempt.changed", "started", "running"),
        ("run.changed", "started", "running"),
        ("run.changed", "updated", "success"),
        ("attempt.changed", "updated", "success"),
    ]
    ids = set(Event.objects.filter(type="run.changed").values_list("run_id", flat=True))
    assert ids == {run.id}
    assert set(Event.objects.exclude(type="task.changed").values_list("attempt_id", flat=True)) == {
        run.attempt_id
    }


def test_cancel_and_delete_are_task_changes(work: str, project: Project, api: APIClient) -> None:
    run = run_finished(create_task(api, prompt="echo hi")["run_id"])
    attempt_finished(run.attempt_id)
    Event.objects.all().delete()

    assert api.delete("/api/v1/tasks/t1?project_id=demo").status_code == 200  # cancel
    assert api.delete("/api/projects/demo/tasks/t1").status_code in (200, 204)

    assert changes(task_id="t1") == [
        ("task.changed", "moved", "cancelled"),
        ("task.changed", "deleted", "cancelled"),
    ]


def test_a_stop_before_the_start_ends_the_run_and_its_attempt(project: Project) -> None:
    run = make_run(make_task(project, "t1"), RunStatus.QUEUED)
    Run.objects.filter(id=run.id).update(status=RunStatus.QUEUED)
    run.attempt.status = RunStatus.CREATED
    run.attempt.save()

    run_stop(run)

    assert changes() == [
        ("attempt.changed", "updated", "stopped"),
        ("run.changed", "updated", "stopped"),
    ]


def test_a_change_rolled_back_leaves_no_event(project: Project) -> None:
    run = make_run(make_task(project, "t1"), RunStatus.QUEUED)

    with pytest.raises(RuntimeError), transaction.atomic():
        assert run_claim(run, "w1", "/tmp")
        raise RuntimeError("the caller's transaction fails")

    assert not Event.objects.exists()
    assert Run.objects.get(id=run.id).status == RunStatus.QUEUED


def test_a_board_move_and_a_merge_are_task_moves(project: Project) -> None:
    task = make_task(project, "t1")

    task_move(task, "inreview")
    task_merged(task.pk)
    task_merged(task.pk)  # already done: no change, no event

    assert changes() == [("task.changed", "moved", "inreview"), ("task.changed", "moved", "done")]
