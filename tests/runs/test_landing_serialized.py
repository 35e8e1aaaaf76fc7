"""Operations on one attempt are serialized in the database (runs/landing.py,
`services.attempt_operation_begin`): of two at once, one wins and the other is told busy."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from projects.models import Project
from runs import landing, services
from runs.models import OPERATION_STALE, Attempt, RunStatus
from tasks.models import Task
from tasks.services import followup_start
from tests.conftest import attempt_finished, create_task, run_finished
from tests.helpers import attempt_with_commits, git_cli


@pytest.fixture
def attempt(project: Project, git_repo: Path) -> Attempt:
    task = Task.objects.create(project=project, task_id="t", prompt="p", agent_type="shell")
    git_cli(git_repo, "checkout", "-q", "-b", "elsewhere")
    return attempt_with_commits(task, [{"a.txt": "a\n"}])


def test_an_operation_in_progress_makes_another_one_busy_until_it_ends(
    git_repo: Path, attempt: Attempt
) -> None:
    main = git_cli(git_repo, "rev-parse", "main")
    token = services.attempt_operation_begin(attempt.id, "rebase")
    assert token is not None

    with pytest.raises(landing.AttemptBusy, match="a rebase is running on it") as busy:
        landing.attempt_merge(attempt.id)
    assert busy.value.status_code == 409 and busy.value.details == {"reason": "busy"}
    assert git_cli(git_repo, "rev-parse", "main") == main

    services.attempt_operation_end(attempt.id, "rebase", token)
    landing.attempt_merge(attempt.id)
    assert git_cli(git_repo, "rev-parse", "main") != main


def test_an_attempt_whose_agent_runs_is_busy(attempt: Attempt) -> None:
    Attempt.objects.filter(id=attempt.id).update(status=RunStatus.RUNNING)

    with pytest.raises(landing.AttemptBusy, match="wait for its run to end, or stop it"):
        landing.attempt_rebase(attempt.id)


def test_a_slot_left_by_a_dead_process_is_taken_over_once_stale(attempt: Attempt) -> None:
    stale = timezone.now() - OPERATION_STALE - timedelta(seconds=1)
    Attempt.objects.filter(id=attempt.id).update(operation="merge", operation_started_at=stale)

    landing.attempt_merge(attempt.id)

    assert Attempt.objects.get(id=attempt.id).operation == ""


def test_two_merges_at_once_one_wins_the_other_is_refused(
    transactional_db: None, git_repo: Path, attempt: Attempt
) -> None:
    main = git_cli(git_repo, "rev-parse", "main").strip()
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def merge(strategy: str) -> None:
        start.wait()
        try:
            outcomes.append(landing.attempt_merge(attempt.id, strategy=strategy))
        except landing.LandingConflict as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=merge, args=(s,)) for s in ("squash", "merge")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    won = [o for o in outcomes if isinstance(o, landing.Merged)]
    lost = [o for o in outcomes if isinstance(o, landing.LandingConflict)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert lost[0].details["reason"] in ("busy", "nothing_to_merge")
    assert git_cli(git_repo, "rev-list", f"{main}..main", "--first-parent").split() == [
        won[0].commit
    ]


def test_a_follow_up_does_not_start_while_the_attempt_is_being_landed(
    work: str, api: APIClient, project: Project
) -> None:
    created = create_task(api, prompt="echo first > first.txt")
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)
    token = services.attempt_operation_begin(attempt.id, "rebase")
    assert token is not None

    followup = run_finished(followup_start(Task.objects.get(id=attempt.task_id), "true").id)

    assert (followup.status, followup.error_summary) == ("failed", "the attempt was busy")
    assert Attempt.objects.get(id=attempt.id).status == "success"
