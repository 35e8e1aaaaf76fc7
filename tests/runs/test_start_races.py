"""A stop, a cancel or a second delivery that meets an attempt as it starts: whatever the
order, everything ends, the agent runs at most once, and the task can be deleted."""

from __future__ import annotations

import importlib
from functools import partial

from django.apps import apps as django_apps
from rest_framework.test import APIClient

from projects import storage
from projects.models import Project
from runs import pipeline
from runs.models import TERMINAL_STATUSES, Attempt, LogChunk, Run
from runs.tasks import run_followup
from tasks.models import Task
from tests.conftest import attempt_finished, create_task, run_finished, wait_for

RACES = 40
WAIT_FOR_GO = 'while [ ! -f "$CONDUCTOR_TASK_DIR/go" ]; do sleep 0.02; done'


def ended(attempt_id: str) -> bool:
    attempt = Attempt.objects.get(id=attempt_id)
    runs = attempt.runs.values_list("status", flat=True)
    return attempt.status in TERMINAL_STATUSES and all(s in TERMINAL_STATUSES for s in runs)


def stop_as_it_starts(api: APIClient, n: int) -> str:
    """Three ways to stop a task, each sent right after the task was created."""
    created = create_task(api, task_id=f"race-{n}", prompt="sleep 600")
    run_id = created["run_id"]
    if n % 3 == 0:
        assert api.post(f"/api/v1/runs/{run_id}/stop").status_code in (200, 409)
    elif n % 3 == 1:
        assert api.delete(f"/api/v1/tasks/race-{n}?project_id=demo").status_code == 200
    else:
        path = f"/api/projects/demo/tasks/race-{n}/runs/{run_id}/stop"
        assert api.post(path).status_code in (202, 409)
    return Run.objects.get(id=run_id).attempt_id


def test_stopping_or_cancelling_a_task_as_it_starts_never_leaves_it_stuck(
    work: str, api: APIClient, project: Project
) -> None:
    attempts = [stop_as_it_starts(api, n) for n in range(RACES)]

    stuck = []
    for attempt_id in attempts:
        try:
            wait_for(partial(ended, attempt_id), 20, f"attempt {attempt_id} to end")
        except AssertionError:
            stuck.append(Attempt.objects.get(id=attempt_id))
    assert [(a.id, a.status) for a in stuck] == []
    for n in range(RACES):
        assert api.get(f"/api/v1/tasks/race-{n}?project_id=demo").json()["status"] != "running"
        assert api.delete(f"/api/projects/demo/tasks/race-{n}").status_code == 204
    assert api.delete("/api/projects/demo?force=true").status_code == 200


def test_an_agent_run_stopped_during_setup_never_starts(
    work: str, api: APIClient, project: Project
) -> None:
    project.setup_script = WAIT_FOR_GO
    project.save()
    created = create_task(api, prompt="echo the agent ran")
    attempt_id = Run.objects.get(id=created["run_id"]).attempt_id
    setup = wait_for(
        lambda: Run.objects.filter(attempt_id=attempt_id, kind="setup", status="running").first(),
        what="the setup script to run",
    )

    assert api.post(f"/api/v1/runs/{created['run_id']}/stop").json() == {"status": "stopped"}
    (storage.task_dir("demo", "t1") / "go").touch()

    attempt = attempt_finished(attempt_id)
    run = Run.objects.get(id=created["run_id"])
    assert (attempt.status, run.status, run_finished(setup.id).status) == (
        "stopped",
        "stopped",
        "success",
    )
    assert run.started_at is None and not LogChunk.objects.filter(run=run).exists()
    assert api.delete("/api/projects/demo/tasks/t1").status_code == 204


def test_a_follow_up_delivered_twice_runs_the_agent_once(
    work: str, api: APIClient, project: Project
) -> None:
    project.cleanup_script = 'echo cleanup >> "$CONDUCTOR_TASK_DIR/cleanups"'
    project.save()
    first = run_finished(create_task(api, prompt="echo first")["run_id"])
    attempt_finished(first.attempt_id)
    count = storage.task_dir("demo", "t1") / "count"

    followup = create_task(api, attach_mode="resume", prompt=f"echo ran >> {count}; {WAIT_FOR_GO}")
    run_followup.apply_async(args=(followup["run_id"],))  # a duplicate while it runs
    wait_for(lambda: count.exists(), what="the follow-up's agent to run")
    (storage.task_dir("demo", "t1") / "go").touch()
    run = run_finished(followup["run_id"])
    attempt = attempt_finished(run.attempt_id)
    pipeline.followup_execute(run.id)  # a late redelivery

    attempt.refresh_from_db()
    assert (run.status, attempt.status) == ("success", "success"), attempt.error_summary
    assert count.read_text() == "ran\n"
    cleanups = storage.task_dir("demo", "t1") / "cleanups"
    assert cleanups.read_text() == "cleanup\ncleanup\n"  # the first run's and the follow-up's


def test_attempts_an_earlier_version_left_queued_end_stopped(db: None, project: Project) -> None:
    """The upgrade repairs what the race left: such a task could never be deleted."""
    migration = importlib.import_module("runs.migrations.0003_end_attempts_left_queued")
    task = Task.objects.create(project=project, task_id="t1", prompt="x", agent_type="shell")
    stuck = Attempt.objects.create(task=task, agent="shell", status="queued")
    Run.objects.create(attempt=stuck, status="stopped")

    migration.end_attempts_left_queued(django_apps, None)

    stuck.refresh_from_db()
    assert (stuck.status, stuck.error_summary) == ("stopped", "stopped before it started")
