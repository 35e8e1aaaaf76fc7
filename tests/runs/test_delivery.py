"""Duplicated or redelivered Celery tasks are harmless; nothing stays running forever."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs import pipeline, services
from runs.models import Attempt, Run
from runs.tasks import attempt_start
from tasks.models import Task
from tests.conftest import attempt_finished, create_task, run_finished


def test_a_duplicated_attempt_task_runs_the_attempt_once(
    work: str, api: APIClient, project: Project
) -> None:
    created = create_task(api, prompt="echo once")
    attempt_id = Run.objects.get(id=created["run_id"]).attempt_id
    attempt_start.apply_async(args=(attempt_id,))
    attempt_start.apply_async(args=(attempt_id,))

    attempt = attempt_finished(attempt_id)
    pipeline.attempt_execute(attempt_id)  # a late redelivery

    assert attempt.status == "success"
    assert Run.objects.filter(attempt_id=attempt_id).count() == 1
    assert run_finished(created["run_id"]).log_lines == 1


def test_the_agent_version_is_recorded(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile
) -> None:
    run = run_finished(create_task(api, agent_type="fake-claude", prompt="hi")["run_id"])

    assert run.agent_version == "9.9.9 (Fake Code)"


def test_runs_whose_worker_stopped_heartbeating_are_reaped(db: None) -> None:
    project = Project.objects.create(id="p")
    task = Task.objects.create(project=project, task_id="t", prompt="x", agent_type="shell")
    stale = timezone.now() - timedelta(hours=1)
    attempt = Attempt.objects.create(
        task=task, agent="shell", status="running", worker="gone", heartbeat_at=stale
    )
    run = Run.objects.create(attempt=attempt, status="running", worker="gone", heartbeat_at=stale)
    fresh = Attempt.objects.create(
        task=task, agent="shell", status="running", worker="alive", heartbeat_at=timezone.now()
    )

    services.reap_stale()

    run.refresh_from_db()
    attempt.refresh_from_db()
    fresh.refresh_from_db()
    assert (run.status, attempt.status, fresh.status) == ("crashed", "crashed", "running")
    assert "worker 'gone' stopped heartbeating" in run.error_summary
    assert run.ended_at is not None


def test_long_runs_are_never_redelivered_by_the_broker() -> None:
    assert settings.CELERY_TASK_ACKS_LATE is False
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
