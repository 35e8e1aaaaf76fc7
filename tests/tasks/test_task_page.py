"""The task page (its attempts and runs as a timeline, a new attempt) and what the attempt
page posts: the follow-up, through `attempt_followup`, and its draft, through `draft_save`."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from projects.models import Project
from runs.models import Attempt, Run, RunStatus
from tasks.models import Draft
from tests.conftest import git
from tests.helpers import assert_error
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
    git(git_repo, "branch", "feature")

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


def test_the_draft_is_saved_by_version_and_read_back(client: Client, run: Run) -> None:
    url = f"/ui/attempts/{run.attempt_id}/draft/"
    assert client.get(url).json() == {"prompt": "", "version": 0}

    first = client.post(url, {"prompt": "add tests", "version": 0}).json()
    second = client.post(url, {"prompt": "add tests, run them", "version": 1}).json()
    stale = client.post(url, {"prompt": "lost", "version": 1})

    assert first["version"] == 1 and second["version"] == 2
    assert assert_error(stale, 409, "CONFLICT")["details"] == {"version": 2}
    assert client.get(url).json() == {"prompt": "add tests, run them", "version": 2}
    for bad in [{"prompt": "x"}, {"prompt": "x", "version": "-1"}, {"prompt": "x", "version": "a"}]:
        assert_error(client.post(url, bad), 400, "BAD_REQUEST")
    assert_error(client.get("/ui/attempts/a.b/draft/"), 400, "BAD_REQUEST")
    assert_error(client.get("/ui/attempts/ghost/draft/"), 404, "NOT_FOUND")


def test_a_follow_up_is_sent_and_its_draft_is_done_with(client: Client, run: Run) -> None:
    Draft.objects.create(attempt=run.attempt, prompt="echo again")

    response = client.post(f"/ui/attempts/{run.attempt_id}/follow-up/", {"prompt": "echo again"})

    followup = Run.objects.exclude(id=run.id).get()
    assert followup.previous_run_id == run.id and followup.prompt == "echo again"
    assert response["Location"] == f"/ui/attempts/{run.attempt_id}/?run={followup.id}"
    assert not Draft.objects.filter(attempt=run.attempt).exists()


def test_a_draft_saved_since_by_another_tab_stays(client: Client, run: Run) -> None:
    Draft.objects.create(attempt=run.attempt, prompt="the next one", queued=True)

    client.post(f"/ui/attempts/{run.attempt_id}/follow-up/", {"prompt": "echo again"})
    client.post(f"/ui/attempts/{run.attempt_id}/draft/", {"prompt": "the next two", "version": 1})

    draft = Draft.objects.get(attempt=run.attempt)
    assert (draft.prompt, draft.queued, draft.version) == ("the next two", True, 2)


def test_a_blank_follow_up_is_not_sent(client: Client, run: Run) -> None:
    response = client.post(
        f"/ui/attempts/{run.attempt_id}/follow-up/", {"prompt": "  "}, follow=True
    )

    assert "Follow-up not sent" in response.content.decode()
    assert Run.objects.count() == 1
    assert client.post("/ui/attempts/ghost/follow-up/", {"prompt": "x"}).status_code == 404
