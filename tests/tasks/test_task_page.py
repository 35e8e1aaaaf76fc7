"""The task page (its attempts and runs as a timeline, a new attempt) and what the attempt
page calls: the follow-up and its draft, through the attempts API mounted for the session
(/ui/api/v1/); a follow-up removes the draft that held the text it sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from projects.models import Project
from runs.models import Attempt, Run, RunStatus
from tasks.models import Draft
from tests.helpers import assert_error, git_cli
from tests.projects.builders import make_run, make_task


@pytest.fixture
def run(project: Project) -> Run:
    return make_run(make_task(project, "t1", title="Say hi"), RunStatus.FAILED, exit_code=3)


def test_the_timeline_shows_each_attempt_and_its_runs(client: Client, run: Run) -> None:
    Run.objects.filter(id=run.id).update(error_summary="exit code 3")

    page = client.get("/ui/projects/demo/tasks/t1/").content.decode()

    assert "<h1>Say hi</h1>" in page and "To do" in page
    assert f'href="/ui/attempts/{run.attempt_id}/"' in page
    assert f'data-run="{run.id}"' in page and "exit 3" in page and "exit code 3" in page
    board = client.get("/ui/projects/demo/").content.decode()
    assert 'href="/ui/projects/demo/tasks/t1/"' in board


def test_an_unknown_task_is_404(client: Client, project: Project) -> None:
    assert client.get("/ui/projects/demo/tasks/ghost/").status_code == 404
    assert client.get("/ui/projects/ghost/tasks/t1/").status_code == 404


def test_a_new_attempt_starts_from_the_branch_asked_for(
    client: Client, run: Run, git_repo: Path
) -> None:
    git_cli(git_repo, "branch", "feature")

    response = client.post(
        "/ui/projects/demo/tasks/t1/attempts/new/", {"agent": "shell", "base_branch": "feature"}
    )

    newest = Attempt.objects.exclude(id=run.attempt_id).get()
    assert response.status_code == 302 and response["Location"] == f"/ui/attempts/{newest.id}/"
    assert newest.base_branch == "feature"


def test_a_new_attempt_with_a_bad_branch_or_agent_is_refused_in_the_form(
    client: Client, run: Run, settings: Settings
) -> None:
    url = "/ui/projects/demo/tasks/t1/attempts/new/"
    for form, message in [
        ({"agent": "shell", "base_branch": "nope"}, "is not a branch of"),
        ({"agent": "shell", "base_branch": "--upload-pack=x"}, "is not a branch of"),
        ({"agent": "robot"}, "Select a valid choice"),
        ({"agent": "custom"}, "needs an agent profile"),
    ]:
        response = client.post(url, form)
        assert response.status_code == 200 and message in response.content.decode(), form
    settings.CONDUCTOR = {**settings.CONDUCTOR, "DISABLE_TASK_START": True}
    assert "disabled" in client.post(url, {"agent": "shell"}).content.decode()
    assert Attempt.objects.count() == 1


def test_the_draft_is_saved_by_version_through_the_session_api(client: Client, run: Run) -> None:
    url = f"/ui/api/v1/attempts/{run.attempt_id}/draft"
    assert_error(client.get(url), 404, "NOT_FOUND")  # none yet: the page starts at version 0

    saved = client.put(url, {"prompt": "echo again", "version": 0}, content_type="application/json")
    stale = client.put(url, {"prompt": "other", "version": 0}, content_type="application/json")

    assert saved.json()["version"] == 1
    assert_error(stale, 409, "CONFLICT")
    assert stale.json()["details"]["version"] == 1  # what the page saves over
    assert client.get(url).json()["prompt"] == "echo again"
    assert_error(client.get("/ui/api/v1/attempts/a.b/draft"), 400, "BAD_REQUEST")
    assert_error(client.get("/ui/api/v1/attempts/ghost/draft"), 404, "NOT_FOUND")


def test_a_follow_up_is_sent_and_the_draft_it_sent_is_done_with(client: Client, run: Run) -> None:
    Draft.objects.create(attempt=run.attempt, prompt="echo again")

    response = client.post(
        f"/ui/api/v1/attempts/{run.attempt_id}/follow-up",
        {"prompt": "echo again"},
        content_type="application/json",
    )

    followup = Run.objects.exclude(id=run.id).get()
    assert response.status_code == 201 and response.json()["run_id"] == followup.id
    assert followup.previous_run_id == run.id and followup.prompt == "echo again"
    assert not Draft.objects.filter(attempt=run.attempt).exists()


def test_a_draft_saved_since_by_another_tab_stays(client: Client, run: Run) -> None:
    Draft.objects.create(attempt=run.attempt, prompt="the next one", queued=True)

    client.post(
        f"/ui/api/v1/attempts/{run.attempt_id}/follow-up",
        {"prompt": "echo again"},
        content_type="application/json",
    )

    draft = Draft.objects.get(attempt=run.attempt)
    assert (draft.prompt, draft.queued, draft.version) == ("the next one", True, 1)


def test_a_blank_follow_up_is_not_sent(client: Client, run: Run) -> None:
    url = f"/ui/api/v1/attempts/{run.attempt_id}/follow-up"

    response = client.post(url, {"prompt": "  "}, content_type="application/json")

    assert_error(response, 400, "BAD_REQUEST")
    assert Run.objects.count() == 1
    ghost = client.post(
        "/ui/api/v1/attempts/ghost/follow-up", {"prompt": "x"}, content_type="application/json"
    )
    assert_error(ghost, 404, "NOT_FOUND")
    assert client.post(f"/ui/attempts/{run.attempt_id}/follow-up/").status_code == 404  # gone
