"""The reconciler sends again the starts no worker claimed: a lost message never leaves
work queued forever, and of several reconcilers only one re-sends each time."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from projects.models import Project
from runs import services
from runs.models import Attempt, Run, RunStatus, Worker
from runs.reconcile import followups_orphaned_fail, requeue_unclaimed
from tasks.models import Task
from tests.conftest import attempt_finished, run_finished

LONG_AGO = timedelta(hours=1)


def lost_attempt(project: Project, prompt: str = "echo found") -> Run:
    """An attempt the planner admitted whose message the broker lost: none was sent."""
    task = Task.objects.create(project=project, task_id="t1", prompt=prompt, agent_type="shell")
    attempt = Attempt.objects.create(
        task=task,
        agent="shell",
        admitted_at=timezone.now() - LONG_AGO,
        enqueued_at=timezone.now() - LONG_AGO,
    )
    return services.run_create(attempt, Run.Kind.AGENT, prompt)


def test_an_admitted_attempt_no_worker_claimed_is_sent_again(work: str, project: Project) -> None:
    run = lost_attempt(project)

    assert run_finished(run.id).status == "success"
    assert attempt_finished(run.attempt_id).status == "success"


def test_a_follow_up_whose_message_was_lost_is_sent_again(work: str, project: Project) -> None:
    first = run_finished(lost_attempt(project).id)
    attempt = attempt_finished(first.attempt_id)
    followup = services.run_create(attempt, Run.Kind.AGENT, "echo again", previous_run=first)
    Run.objects.filter(id=followup.id).update(enqueued_at=timezone.now() - LONG_AGO)

    assert run_finished(followup.id).status == "success"
    assert attempt_finished(attempt.id).status == "success"


def test_only_one_reconciler_sends_each_time_and_only_when_due(db: None, project: Project) -> None:
    run = lost_attempt(project)
    followup_attempt = Attempt.objects.create(
        task=run.attempt.task, agent="shell", status=RunStatus.SUCCESS
    )
    delayed = services.run_create(followup_attempt, Run.Kind.AGENT, "echo later")
    Run.objects.filter(id=delayed.id).update(enqueued_at=timezone.now() + LONG_AGO)  # a delay

    assert requeue_unclaimed() == 1
    assert requeue_unclaimed() == 0
    resent = Attempt.objects.get(id=run.attempt_id).enqueued_at
    assert resent is not None and resent > timezone.now() - LONG_AGO


def test_a_follow_up_for_a_worker_that_is_gone_fails_saying_what_to_do(
    work: str, project: Project
) -> None:
    first = run_finished(lost_attempt(project).id)
    attempt = attempt_finished(first.attempt_id)
    Attempt.objects.filter(id=attempt.id).update(worker="gone-host")  # its worktree is there
    Worker.objects.create(name="gone-host", heartbeat_at=timezone.now() - LONG_AGO)
    followup = services.run_create(attempt, Run.Kind.AGENT, "echo again", previous_run=first)
    Run.objects.filter(id=followup.id).update(created_at=timezone.now() - LONG_AGO)

    ended = run_finished(followup.id)

    assert ended.status == "failed"
    assert "worker 'gone-host'" in ended.error_summary
    assert "attach_mode 'attach'" in ended.error_summary
    assert attempt_finished(attempt.id).status == "success"  # the attempt's own work stands


def test_a_follow_up_for_a_live_worker_waits_for_it(db: None, project: Project) -> None:
    attempt = Attempt.objects.create(
        task=Task.objects.create(project=project, task_id="t2", prompt="p", agent_type="shell"),
        agent="shell",
        status=RunStatus.SUCCESS,
        worker="busy-host",
    )
    Worker.objects.create(name="busy-host", heartbeat_at=timezone.now())
    followup = services.run_create(attempt, Run.Kind.AGENT, "echo later")
    Run.objects.filter(id=followup.id).update(created_at=timezone.now() - LONG_AGO)

    assert followups_orphaned_fail() == 0
    assert Run.objects.get(id=followup.id).status == "queued"
