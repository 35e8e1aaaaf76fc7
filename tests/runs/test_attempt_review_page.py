"""The attempt review page (`/ui/attempts/<a>/review/`) and the attempts API it calls with
the dashboard's session under /ui/api/v1/: signed in and CSRF-checked when auth is on, never a
way round the API key for /api/v1/ itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from pytest_django.fixtures import Settings

from projects.models import Project
from runs.models import Attempt
from tasks.models import Task
from tests.helpers import assert_error, attempt_with_commits, git_cli


@pytest.fixture
def attempt(project: Project, git_repo: Path) -> Attempt:
    task = Task.objects.create(
        project=project, task_id="greet", title="Add a greeting", prompt="greet", agent_type="shell"
    )
    git_cli(git_repo, "checkout", "-q", "-b", "elsewhere")
    return attempt_with_commits(task, [{"hello.txt": "hello\n"}], summary="Greets.")


@pytest.fixture
def signed_in(settings: Settings, client: Client, db: None) -> Client:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "review-key"}
    User.objects.create_user("ada", password="a long pass phrase")
    client.login(username="ada", password="a long pass phrase")
    return client


def test_the_page_names_the_attempt_and_where_its_api_is(client: Client, attempt: Attempt) -> None:
    response = client.get(f"/ui/attempts/{attempt.id}/review/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Review: Add a greeting" in page
    assert f'data-api="/ui/api/v1/attempts/{attempt.id}"' in page
    assert f'href="/ui/attempts/{attempt.id}/"' in page
    assert attempt.branch in page


@pytest.mark.parametrize("attempt_id", ["nope", "a%20b", "..%2F..%2Fetc"])
def test_an_unknown_or_hostile_attempt_id_is_a_404(
    db: None, client: Client, attempt_id: str
) -> None:
    assert client.get(f"/ui/attempts/{attempt_id}/review/").status_code == 404


def test_without_a_key_the_session_api_answers_as_the_api(client: Client, attempt: Attempt) -> None:
    diff = client.get(f"/ui/api/v1/attempts/{attempt.id}/diff").json()

    assert [f["new_path"] for f in diff["files"]] == ["hello.txt"]
    assert client.get(f"/api/v1/attempts/{attempt.id}/diff").json()["files"] == diff["files"]
    assert_error(client.get("/ui/api/v1/attempts/bad$id/diff"), 400, "BAD_REQUEST")


def test_with_a_key_a_signed_in_session_reads_and_lands(
    signed_in: Client, attempt: Attempt
) -> None:
    status = signed_in.get(f"/ui/api/v1/attempts/{attempt.id}/branch-status")
    merged = signed_in.post(
        f"/ui/api/v1/attempts/{attempt.id}/merge", {}, content_type="application/json"
    )

    assert status.status_code == 200 and status.json()["commits_ahead"] == 1
    assert merged.status_code == 200, merged.content
    assert merged.json()["merged"]["strategy"] == "squash"


def test_with_a_key_the_session_api_needs_a_sign_in(
    settings: Settings, client: Client, attempt: Attempt
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "review-key"}

    response = client.get(f"/ui/api/v1/attempts/{attempt.id}/diff")

    assert_error(response, 401, "UNAUTHORIZED")


def test_a_post_without_the_csrf_token_is_refused(settings: Settings, attempt: Attempt) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "review-key"}
    User.objects.create_user("ada", password="a long pass phrase")
    browser = Client(enforce_csrf_checks=True)
    browser.login(username="ada", password="a long pass phrase")

    response = browser.post(
        f"/ui/api/v1/attempts/{attempt.id}/merge", {}, content_type="application/json"
    )

    assert_error(response, 403, "FORBIDDEN")
    attempt.refresh_from_db()
    assert attempt.merge_commit == ""


def test_a_session_never_stands_in_for_the_key_on_the_api(
    signed_in: Client, attempt: Attempt
) -> None:
    response = signed_in.get(f"/api/v1/attempts/{attempt.id}/diff")

    assert response.status_code == 401


def test_the_openapi_schema_lists_each_route_once(client: Client, db: None) -> None:
    schema = client.get("/api/schema/?format=json").json()

    assert "/api/v1/attempts/{attempt_id}/merge" in schema["paths"]
    assert not [path for path in schema["paths"] if path.startswith("/ui/")]
