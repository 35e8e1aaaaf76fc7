"""POST /api/v1/tasks: what a client gets back, and every way a request is refused."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from projects import storage
from projects.models import AgentProfile, Project
from runs.agents import AGENT_TYPES
from runs.models import Run
from tasks.models import Task
from tests.conftest import create_task, log_text, run_finished, wait_for
from tests.helpers import assert_error

VALID = {"project_id": "demo", "task_id": "t1", "agent_type": "shell", "prompt": "true"}


def post(api: APIClient, body: Any) -> Any:
    return api.post("/api/v1/tasks", body, format="json")


def stop(api: APIClient, run_id: str) -> None:
    response = api.post(f"/api/v1/runs/{run_id}/stop")
    assert response.status_code == 200, response.content
    run_finished(run_id)


def test_it_answers_201_with_the_started_task_and_the_run_finishes(
    work: str, api: APIClient, project: Project
) -> None:
    response = post(api, {**VALID, "prompt": "echo hi"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "project_id",
        "task_id",
        "run_id",
        "status",
        "queue_position",
        "depends_on",
    }
    assert (body["project_id"], body["task_id"]) == ("demo", "t1")
    assert (body["status"], body["queue_position"], body["depends_on"]) == ("started", 0, [])
    assert body["run_id"].startswith("run-")
    run = run_finished(body["run_id"])
    assert run.status == "success"
    assert log_text(run.id) == "hi\n"


def test_invalid_json_is_400(db: None, api: APIClient) -> None:
    response = api.post("/api/v1/tasks", b'{"project_id": ', content_type="application/json")

    body = assert_error(response, 400, "BAD_REQUEST")
    assert "invalid JSON" in body["error"]
    assert not Task.objects.exists()


def test_a_json_array_body_is_400(db: None, api: APIClient) -> None:
    body = assert_error(post(api, [VALID]), 400, "BAD_REQUEST")

    assert "JSON object" in body["error"]
    assert not Task.objects.exists()


@pytest.mark.parametrize("field", ["project_id", "task_id", "agent_type", "prompt"])
def test_each_missing_required_field_is_400(db: None, api: APIClient, field: str) -> None:
    body = {k: v for k, v in VALID.items() if k != field}

    error = assert_error(post(api, body), 400, "BAD_REQUEST")

    assert field in error["error"]
    assert field in error["details"]["fields"]
    assert not Task.objects.exists()


@pytest.mark.parametrize("bad", ["a b", "a/b", "..", "a.b", "é", "x" * 129, ""])
@pytest.mark.parametrize("field", ["project_id", "task_id"])
def test_invalid_identifiers_are_400(db: None, api: APIClient, field: str, bad: str) -> None:
    error = assert_error(post(api, {**VALID, field: bad}), 400, "BAD_REQUEST")

    assert field in error["details"]["fields"]
    assert not Task.objects.exists()
    assert not Project.objects.exists()


def test_an_identifier_of_128_characters_is_accepted(db: None, api: APIClient) -> None:
    created = create_task(api, project_id="p" * 128, task_id="t" * 128)

    assert (created["project_id"], created["task_id"]) == ("p" * 128, "t" * 128)


@pytest.mark.parametrize("bad", [" t1", "t1 ", "\tt1", " "])
def test_identifiers_with_surrounding_whitespace_are_400_not_trimmed(
    db: None, api: APIClient, bad: str
) -> None:
    error = assert_error(post(api, {**VALID, "task_id": bad}), 400, "BAD_REQUEST")

    assert "task_id" in error["details"]["fields"]
    assert not Task.objects.exists()


@pytest.mark.parametrize("field", ["project_id", "task_id"])
def test_an_identifier_with_a_trailing_newline_is_400(db: None, api: APIClient, field: str) -> None:
    assert_error(post(api, {**VALID, field: "t1\n"}), 400, "BAD_REQUEST")
    assert not Task.objects.exists()


def test_an_unknown_agent_type_is_400_and_lists_the_known_types(db: None, api: APIClient) -> None:
    error = assert_error(post(api, {**VALID, "agent_type": "gpt-9000"}), 400, "BAD_REQUEST")

    assert "gpt-9000" in error["error"]
    for known in AGENT_TYPES:
        assert known in error["error"]
    assert not Task.objects.exists()


def test_an_attach_mode_outside_create_attach_resume_is_400(db: None, api: APIClient) -> None:
    error = assert_error(post(api, {**VALID, "attach_mode": "replace"}), 400, "BAD_REQUEST")

    assert "attach_mode" in error["details"]["fields"]
    assert not Task.objects.exists()


def test_agent_type_custom_without_a_profile_is_400(db: None, api: APIClient) -> None:
    error = assert_error(post(api, {**VALID, "agent_type": "custom"}), 400, "BAD_REQUEST")

    assert "profile" in error["error"]
    assert not Task.objects.exists()


def test_creating_the_same_task_twice_is_409(db: None, api: APIClient) -> None:
    create_task(api)

    error = assert_error(post(api, VALID), 409, "CONFLICT")

    assert "already exists" in error["error"]
    assert Task.objects.count() == 1
    assert Run.objects.count() == 1


@pytest.mark.parametrize("mode", ["attach", "resume"])
def test_attach_or_resume_on_an_unknown_task_is_404(db: None, api: APIClient, mode: str) -> None:
    error = assert_error(post(api, {**VALID, "attach_mode": mode}), 404, "NOT_FOUND")

    assert "t1" in error["error"]
    assert not Task.objects.exists()
    assert not Run.objects.exists()


def test_a_task_whose_bus_came_first_is_created_once_and_keeps_its_messages(
    work: str, api: APIClient
) -> None:
    posted = api.post(
        "/api/projects/demo/tasks/t1/messages", {"body": "before the task"}, format="json"
    )
    assert posted.status_code == 201
    for mode in ("attach", "resume"):
        assert_error(post(api, {**VALID, "attach_mode": mode}), 404, "NOT_FOUND")

    created = create_task(api)

    assert run_finished(created["run_id"]).status == "success"
    assert Task.objects.get(task_id="t1").agent_type == "shell"
    assert_error(post(api, VALID), 409, "CONFLICT")
    bus = api.get("/api/v1/messages?project_id=demo&task_id=t1").json()["messages"]
    assert bus[0]["body"] == "before the task"


def test_resume_while_the_previous_attempt_still_runs_is_409(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile
) -> None:
    first = create_task(api, agent_type="fake-claude", prompt="hang")
    try:
        wait_for(lambda: "hanging" in log_text(first["run_id"]), what="the agent to hang")

        response = post(
            api, {**VALID, "agent_type": "fake-claude", "attach_mode": "resume", "prompt": "more"}
        )

        error = assert_error(response, 409, "CONFLICT")
        assert "still running" in error["error"]
        assert Run.objects.filter(kind="agent").count() == 1
    finally:
        stop(api, first["run_id"])


def test_it_answers_503_when_task_start_is_disabled(
    db: None, api: APIClient, settings: Settings
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "DISABLE_TASK_START": True}

    error = assert_error(post(api, VALID), 503, "UNAVAILABLE")

    assert "disable" in error["error"]
    assert not Task.objects.exists()


def test_an_unknown_project_id_creates_a_project_without_a_repository(
    db: None, api: APIClient
) -> None:
    create_task(api, project_id="brand-new")

    project = Project.objects.get(id="brand-new")
    assert project.project_root == ""
    assert not project.has_repository
    assert project.tasks.get().task_id == "t1"


def test_the_task_folder_holds_the_prompt_in_task_md(db: None, api: APIClient) -> None:
    prompt = "  # Fix the parser\n\nkeep   spacing exactly\n"

    create_task(api, project_id="prompt-proj", task_id="prompt-task", prompt=prompt)

    task_md = storage.task_dir("prompt-proj", "prompt-task") / "TASK.md"
    assert task_md.read_text() == prompt


def test_a_task_folder_that_cannot_be_made_is_a_500_and_leaves_nothing(
    db: None, api: APIClient, data_dir: Any
) -> None:
    (data_dir / "projects").mkdir()
    (data_dir / "projects" / "demo").write_text("a file where the project's folder would go")

    error = assert_error(post(api, VALID), 500, "INTERNAL_ERROR")

    assert "folder" in error["error"]
    assert not Task.objects.exists()
    assert not Project.objects.exists()


def test_a_task_folder_planted_as_a_symlink_is_409_and_nothing_is_made(
    db: None, api: APIClient, project: Project, tmp_path: Any
) -> None:
    """An agent of another task can plant `<data>/demo/<next task>` as a link out."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    storage.task_dir("demo", "t-planted").parent.mkdir(parents=True, exist_ok=True)
    storage.task_dir("demo", "t-planted").symlink_to(elsewhere)

    response = post(api, {**VALID, "task_id": "t-planted"})

    error = assert_error(response, 409, "CONFLICT")
    assert "symlink" in error["error"]
    assert list(elsewhere.iterdir()) == []
    assert not Task.objects.filter(task_id="t-planted").exists()
    assert not Run.objects.exists()
