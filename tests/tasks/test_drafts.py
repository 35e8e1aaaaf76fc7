"""`/api/v1/drafts/<attempt_id>`: one versioned follow-up draft per attempt."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import Project
from runs.models import Attempt
from tasks.models import Draft, Task
from tests.helpers import assert_error


@pytest.fixture
def attempt(project: Project) -> Attempt:
    task = Task.objects.create(project=project, task_id="t1", prompt="p", agent_type="shell")
    return Attempt.objects.create(id="att-1", task=task, agent="shell")


def save(api: APIClient, version: int, prompt: str = "next", attempt_id: str = "att-1") -> Any:
    body = {"prompt": prompt, "version": version}
    return api.put(f"/api/v1/drafts/{attempt_id}", body, format="json")


def test_saving_from_the_version_read_moves_it_on(
    db: None, api: APIClient, attempt: Attempt
) -> None:
    first = save(api, 0, "try again")
    assert first.status_code == 200, first.content
    assert set(first.json()) == {
        "attempt_id",
        "prompt",
        "queued",
        "version",
        "created_at",
        "updated_at",
        "sent_run_id",
    }
    assert (first.json()["version"], first.json()["queued"]) == (1, False)
    assert first.json()["sent_run_id"] is None

    second = api.put(
        "/api/v1/drafts/att-1", {"prompt": "and again", "version": 1, "queued": True}, format="json"
    )
    assert second.json()["version"] == 2
    read = api.get("/api/v1/drafts/att-1").json()
    assert (read["prompt"], read["queued"], read["version"]) == ("and again", True, 2)
    assert api.get("/api/v1/drafts?attempt_id=att-1").json()["items"] == [read]
    assert api.get("/api/v1/drafts?attempt_id=att-2").json()["items"] == []


def test_a_stale_version_is_a_409_and_keeps_the_newer_draft(
    db: None, api: APIClient, attempt: Attempt
) -> None:
    save(api, 0, "mine")
    save(api, 1, "theirs")

    body = assert_error(save(api, 1, "mine again"), 409, "CONFLICT")
    assert body["details"] == {"version": 2}
    assert assert_error(save(api, 0, "new"), 409, "CONFLICT")["details"] == {"version": 2}
    assert assert_error(save(api, 7), 409, "CONFLICT")["details"] == {"version": 2}
    assert Draft.objects.get().prompt == "theirs"


def test_a_version_without_a_draft_is_a_409(db: None, api: APIClient, attempt: Attempt) -> None:
    assert assert_error(save(api, 1), 409, "CONFLICT")["details"] == {"version": 0}
    assert not Draft.objects.exists()


def test_deleting_it_and_deleting_the_attempt(db: None, api: APIClient, attempt: Attempt) -> None:
    save(api, 0)
    assert api.delete("/api/v1/drafts/att-1").status_code == 204
    assert_error(api.get("/api/v1/drafts/att-1"), 404, "NOT_FOUND")

    save(api, 0)
    attempt.delete()
    assert not Draft.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "x"},
        {"prompt": "x", "version": -1},
        {"prompt": "x", "version": "one"},
        {"prompt": "x", "version": 2**40},
        {"prompt": "x", "version": 2**31 - 1},  # its next one would not fit PostgreSQL's integer
        {"version": 0},
        {"prompt": "x", "version": 0, "queued": "maybe"},
        ["x"],
    ],
)
def test_a_bad_body_is_a_400(db: None, api: APIClient, attempt: Attempt, body: Any) -> None:
    assert_error(api.put("/api/v1/drafts/att-1", body, format="json"), 400, "BAD_REQUEST")
    assert not Draft.objects.exists()


@pytest.mark.parametrize("attempt_id", ["..", "a.b", "%2e%2e", "x%00"])
def test_a_path_ish_attempt_id_is_a_400(db: None, api: APIClient, attempt_id: str) -> None:
    assert_error(save(api, 0, attempt_id=attempt_id), 400, "BAD_REQUEST")
    assert_error(api.get(f"/api/v1/drafts/{attempt_id}"), 400, "BAD_REQUEST")
    assert_error(api.delete(f"/api/v1/drafts/{attempt_id}"), 400, "BAD_REQUEST")


def test_an_unknown_attempt_is_a_404(db: None, api: APIClient) -> None:
    assert_error(save(api, 0, attempt_id="att-none"), 404, "NOT_FOUND")
    assert_error(api.get("/api/v1/drafts/att-none"), 404, "NOT_FOUND")
    assert_error(api.patch("/api/v1/drafts/att-none", {}, format="json"), 405, "METHOD_NOT_ALLOWED")
    assert_error(api.post("/api/v1/drafts", {}, format="json"), 405, "METHOD_NOT_ALLOWED")
