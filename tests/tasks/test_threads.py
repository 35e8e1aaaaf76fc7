"""The threaded-answer workflow: a child task answering a QUESTION or FACT message."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from rest_framework.test import APIClient

from messagebus.models import Message
from messagebus.services import message_append
from projects import storage
from projects.models import Project
from runs.models import Attempt
from tasks import threads
from tests.conftest import attempt_finished, create_task, run_finished


@pytest.fixture
def question(work: str, api: APIClient, project: Project) -> dict[str, str]:
    parent = create_task(api, task_id="parent", prompt="echo thinking")
    run_finished(parent["run_id"])
    message = message_append(
        project_id="demo",
        task_id="parent",
        run_id=parent["run_id"],
        type="QUESTION",
        body="Which database?",
    )
    return {
        "project_id": "demo",
        "task_id": "parent",
        "run_id": parent["run_id"],
        "message_id": message.msg_id,
    }


def answer(api: APIClient, ref: dict[str, str], **extra: Any) -> Any:
    body = {
        "project_id": "demo",
        "task_id": "child",
        "agent_type": "shell",
        "prompt": "echo PostgreSQL",
        "thread_parent": ref,
        "thread_message_type": "USER_REQUEST",
        **extra,
    }
    return api.post("/api/v1/tasks", body, format="json")


def test_a_child_task_links_both_buses_and_its_folder(
    api: APIClient, question: dict[str, str]
) -> None:
    response = answer(api, question)

    assert response.status_code == 201, response.content
    assert run_finished(response.json()["run_id"]).status == "success"
    link = yaml.safe_load((storage.task_dir("demo", "child") / "TASK-THREAD-LINK.yaml").read_text())
    assert link == {"thread_parent": question}
    request = Message.objects.get(task__task_id="child", type="USER_REQUEST")
    assert request.body == "echo PostgreSQL"
    assert request.parents == [question["message_id"]]
    assert request.meta["thread_parent_message_id"] == question["message_id"]
    assert request.meta["thread_parent_task_id"] == "parent"
    backlink = Message.objects.get(task__task_id="parent", type="THREAD_CHILD")
    assert "child" in backlink.body
    assert backlink.meta["thread_child_task_id"] == "child"
    assert backlink.meta["thread_child_message_id"] == request.msg_id
    detail = api.get("/api/v1/tasks/child?project_id=demo").json()
    assert detail["thread_parent"] == question


def test_a_fact_can_be_answered_too(api: APIClient, question: dict[str, str]) -> None:
    fact = message_append(project_id="demo", task_id="parent", type="FACT", body="It is 4")
    assert answer(api, {**question, "message_id": fact.msg_id}).status_code == 201


def test_other_message_types_are_409(api: APIClient, question: dict[str, str]) -> None:
    note = message_append(project_id="demo", task_id="parent", type="PROGRESS", body="half")
    response = answer(api, {**question, "message_id": note.msg_id})
    assert response.status_code == 409
    assert "QUESTION and FACT" in response.json()["error"]
    assert not Message.objects.filter(type="THREAD_CHILD").exists()
    assert api.get("/api/v1/tasks/child?project_id=demo").status_code == 404


@pytest.mark.parametrize("field", ["task_id", "message_id"])
def test_an_unknown_parent_is_404(api: APIClient, question: dict[str, str], field: str) -> None:
    response = answer(api, {**question, field: "nope"})
    assert response.status_code == 404


@pytest.mark.parametrize("field", ["project_id", "task_id", "run_id", "message_id"])
def test_each_parent_field_is_required(
    api: APIClient, question: dict[str, str], field: str
) -> None:
    ref = {k: v for k, v in question.items() if k != field}
    assert answer(api, ref).status_code == 400


def test_only_user_request_is_allowed_as_the_message_type(
    api: APIClient, question: dict[str, str]
) -> None:
    assert answer(api, question, thread_message_type="ANSWER").status_code == 400


def test_the_task_bus_records_the_outcome(work: str, api: APIClient, project: Project) -> None:
    ok = create_task(api, task_id="ok", prompt="true")
    bad = create_task(api, task_id="bad", prompt="exit 3")
    run_finished(ok["run_id"])
    run_finished(bad["run_id"])

    from tests.conftest import wait_for

    wait_for(
        lambda: Message.objects.filter(type__in=["task_complete", "task_failed"]).count() == 2,
        what="both outcomes on the bus",
    )
    assert Message.objects.get(task__task_id="ok", type="task_complete").run_id == ok["run_id"]
    failed = Message.objects.get(task__task_id="bad", type="task_failed")
    assert "exited with code 3" in failed.body


def test_the_outcome_of_a_task_deleted_once_its_attempt_ended_goes_nowhere(
    work: str, api: APIClient, project: Project
) -> None:
    """Its attempt's end is told after the run ended: the task can be deleted between the
    two (the CI saw "the planner failed", and waiting tasks were not let in)."""
    created = create_task(api, task_id="gone", prompt="true")
    ended = attempt_finished(run_finished(created["run_id"]).attempt_id)
    attempt = Attempt.objects.select_related("task").get(id=ended.id)  # as attempt_ended has it
    assert api.delete("/api/projects/demo/tasks/gone").status_code == 204

    threads.post_outcome(attempt)

    assert not Message.objects.filter(task__task_id="gone").exists()
