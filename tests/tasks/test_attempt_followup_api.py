"""`POST /api/v1/attempts/{id}/follow-up`: a follow-up runs in the attempt's own worktree,
resuming the agent's session, and waits for an active run to end before it starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs.models import Attempt, Run
from tests.conftest import attempt_finished, create_task, run_finished, wait_for
from tests.helpers import assert_error, git_cli


@pytest.fixture
def ended(work: str, api: APIClient, project: Project, fake_claude: AgentProfile) -> Attempt:
    created = create_task(api, agent_type="fake-claude", prompt="Greet\nwrite hello.txt hello")
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)
    assert attempt.status == "success", attempt.error_summary
    return attempt


def test_a_follow_up_on_an_ended_attempt_runs_in_its_worktree_resuming_its_session(
    ended: Attempt, api: APIClient, git_repo: Path
) -> None:
    first = Run.objects.get(attempt=ended, kind=Run.Kind.AGENT)
    body = {"prompt": "Again\nwrite again.txt again\nsummary Again"}

    response = api.post(f"/api/v1/attempts/{ended.id}/follow-up", body, format="json")

    answer = response.json()
    assert response.status_code == 201, answer
    assert (answer["attempt_id"], answer["waiting"]) == (ended.id, False)
    run = run_finished(answer["run_id"])
    assert run.status == "success", run.error_summary
    assert (run.cwd, run.previous_run_id) == (first.cwd, first.id)
    assert run.agent_session_id == first.agent_session_id != ""
    attempt_finished(ended.id)
    assert git_cli(git_repo, "show", f"{ended.branch}:again.txt") == "again\n"
    assert git_cli(git_repo, "show", f"{ended.branch}:hello.txt") == "hello\n"


def test_a_follow_up_on_a_running_attempt_waits_then_starts_after(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile, settings: Any
) -> None:
    # the reconciler's resend would start a forgotten follow-up too: only the hand-over may
    settings.CONDUCTOR = {**settings.CONDUCTOR, "REQUEUE_SECONDS": 3600}
    created = create_task(api, agent_type="fake-claude", prompt="Hang\nhang")
    first = wait_for(
        lambda: Run.objects.filter(id=created["run_id"], status="running").first(),
        what="the first run to start",
    )

    response = api.post(
        f"/api/v1/attempts/{first.attempt_id}/follow-up", {"prompt": "write after.txt after"}
    )

    answer = response.json()
    assert response.status_code == 201, answer
    assert answer["waiting"] is True
    assert Run.objects.get(id=answer["run_id"]).status == "queued"
    assert api.post(f"/api/v1/runs/{first.id}/stop").status_code == 200
    stopped = run_finished(first.id)
    followup = run_finished(answer["run_id"])
    assert followup.status == "success", followup.error_summary
    assert stopped.ended_at is not None and followup.started_at is not None
    assert followup.started_at >= stopped.ended_at
    assert (followup.cwd, followup.previous_run_id) == (stopped.cwd, stopped.id)
    attempt_finished(first.attempt_id)


def test_a_follow_up_refuses_a_bad_body_and_an_unknown_attempt(
    ended: Attempt, api: APIClient
) -> None:
    url = f"/api/v1/attempts/{ended.id}/follow-up"
    assert_error(api.post(url, {}, format="json"), 400, "BAD_REQUEST")
    assert_error(api.post(url, {"prompt": ""}, format="json"), 400, "BAD_REQUEST")
    assert_error(api.post(url, {"prompt": " \n\t"}, format="json"), 400, "BAD_REQUEST")
    assert_error(api.post(url, [1], format="json"), 400, "BAD_REQUEST")
    assert_error(api.post("/api/v1/attempts/nope/follow-up", {"prompt": "x"}), 404, "NOT_FOUND")
    assert Run.objects.filter(attempt=ended).count() == 1
