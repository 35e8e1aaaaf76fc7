"""`GET/PUT/DELETE /api/v1/attempts/{id}/draft` (the same drafts as `/api/v1/drafts`), and a
queued draft sent as the attempt's next follow-up: when its run ends, or at once when it is
idle; the draft is then gone and an `attempt.changed` event (`draft_sent`) is recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from conductor_site.live.models import Event
from projects.models import AgentProfile, Project
from runs.models import Attempt, Run
from tasks.models import Draft, Task
from tests.conftest import attempt_finished, create_task, run_finished, wait_for
from tests.helpers import assert_error, git_cli


def _put(api: APIClient, attempt_id: str, version: int, prompt: str, queued: bool = False) -> Any:
    body = {"prompt": prompt, "version": version, "queued": queued}
    return api.put(f"/api/v1/attempts/{attempt_id}/draft", body, format="json")


def _draft_sent_events(attempt_id: str) -> list[Any]:
    events = Event.objects.filter(attempt_id=attempt_id, type="attempt.changed")
    return [e for e in events if e.payload["change"] == "draft_sent"]


@pytest.fixture
def waiting(project: Project) -> Attempt:
    """An attempt not started yet: a queued draft of its waits."""
    task = Task.objects.create(project=project, task_id="t1", prompt="p", agent_type="shell")
    return Attempt.objects.create(id="att-1", task=task, agent="shell")


def test_the_attempts_draft_is_the_drafts_resources_with_the_same_versions(
    db: None, api: APIClient, waiting: Attempt
) -> None:
    url = "/api/v1/attempts/att-1/draft"
    assert_error(api.get(url), 404, "NOT_FOUND")

    saved = _put(api, "att-1", 0, "next, please", queued=True)

    assert saved.status_code == 200, saved.content
    assert (saved.json()["version"], saved.json()["sent_run_id"]) == (1, None)
    read = api.get(url).json()
    assert read == api.get("/api/v1/drafts/att-1").json()
    assert (read["prompt"], read["queued"], read["version"]) == ("next, please", True, 1)
    stale = assert_error(_put(api, "att-1", 0, "mine"), 409, "CONFLICT")
    assert stale["details"]["version"] == 1
    body = {"prompt": "theirs", "version": 1}
    assert api.put("/api/v1/drafts/att-1", body, format="json").json()["version"] == 2
    assert_error(_put(api, "att-1", 1, "mine"), 409, "CONFLICT")
    assert api.get(url).json()["prompt"] == "theirs"

    assert api.delete(url).status_code == 204
    assert_error(api.delete(url), 404, "NOT_FOUND")
    assert_error(api.get(url), 404, "NOT_FOUND")
    assert not Draft.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"prompt": "x"}, {"prompt": "x", "version": -1}, [1], {"prompt": "x", "version": "a"}],
)
def test_a_bad_body_an_unknown_and_a_bad_attempt_id(
    db: None, api: APIClient, waiting: Attempt, body: Any
) -> None:
    assert_error(api.put("/api/v1/attempts/att-1/draft", body, format="json"), 400, "BAD_REQUEST")
    assert_error(_put(api, "nope", 0, "x"), 404, "NOT_FOUND")
    assert_error(api.get("/api/v1/attempts/a.b/draft"), 400, "BAD_REQUEST")
    assert not Draft.objects.exists()


def test_a_queued_draft_is_sent_as_the_next_follow_up_when_the_run_ends(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile, git_repo: Path
) -> None:
    created = create_task(api, agent_type="fake-claude", prompt="hang")
    first = wait_for(
        lambda: Run.objects.filter(id=created["run_id"], status="running").first(),
        what="the first run to start",
    )
    prompt = "write after.txt after\nsummary After"

    saved = _put(api, first.attempt_id, 0, prompt, queued=True).json()

    assert saved["sent_run_id"] is None  # the attempt is busy: it waits, queued
    assert Draft.objects.get(attempt_id=first.attempt_id).queued
    assert api.post(f"/api/v1/runs/{first.id}/stop").status_code == 200
    sent = wait_for(
        lambda: Run.objects.filter(attempt_id=first.attempt_id, prompt=prompt).first(),
        what="the draft to be sent",
    )
    followup = run_finished(sent.id)
    assert followup.status == "success", followup.error_summary
    assert followup.previous_run_id == first.id  # as POST follow-up: resuming its session
    attempt = attempt_finished(first.attempt_id)
    assert git_cli(git_repo, "show", f"{attempt.branch}:after.txt") == "after\n"
    assert not Draft.objects.filter(attempt_id=first.attempt_id).exists()
    assert len(_draft_sent_events(first.attempt_id)) == 1
    assert_error(api.get(f"/api/v1/attempts/{first.attempt_id}/draft"), 404, "NOT_FOUND")


def test_a_queued_draft_saved_while_the_attempt_is_idle_is_sent_at_once(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile
) -> None:
    created = create_task(api, agent_type="fake-claude", prompt="summary First")
    first = run_finished(created["run_id"])
    attempt_finished(first.attempt_id)
    blank = _put(api, first.attempt_id, 0, "  \n", queued=True).json()
    assert blank["sent_run_id"] is None  # nothing to send: it stays, queued

    saved = _put(api, first.attempt_id, 1, "summary Second", queued=True).json()

    followup = run_finished(saved["sent_run_id"])
    assert (followup.prompt, followup.previous_run_id) == ("summary Second", first.id)
    assert followup.status == "success", followup.error_summary
    assert saved["version"] == 2
    assert not Draft.objects.filter(attempt_id=first.attempt_id).exists()
    assert len(_draft_sent_events(first.attempt_id)) == 1
    attempt_finished(first.attempt_id)
    # Unqueued, a draft is only kept.
    kept = _put(api, first.attempt_id, 0, "summary Later").json()
    assert kept["sent_run_id"] is None
    assert Run.objects.filter(attempt_id=first.attempt_id, kind="agent").count() == 2
