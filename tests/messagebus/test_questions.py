"""Questions from agents: a `QUESTION` on a task's bus (or the project's own) stays open until a
message names it in its `parents`; asking and answering a task's are recorded as the task's
`task.changed` (the board reads its card again), and the board's cards say which tasks need
input, in one query for a page."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conductor_site.live.models import Event
from messagebus.models import Message
from messagebus.writer import Post, _committed_batch
from projects.models import Project
from runs.models import Run
from tasks.models import OpenQuestion, Task
from tasks.selectors import board_column, board_stats
from tests.messagebus.conftest import make_task


def post(api: APIClient, **fields: Any) -> str:
    body = {"project_id": "demo", "task_id": "t1", "type": "QUESTION", "body": "Which db?"}
    response = api.post("/api/v1/messages", {**body, **fields}, format="json")
    assert response.status_code == 201, response.content
    return str(response.json()["msg_id"])


def task_changes(task_id: str = "t1") -> list[str]:
    events = Event.objects.filter(type="task.changed", task_id=task_id).order_by("id")
    return [event.payload["change"] for event in events]


def card(project: Project, task_id: str = "t1") -> dict[str, Any]:
    cards, _ = board_column(project, "todo", limit=50, offset=0)
    return next(card for card in cards if card["task_id"] == task_id)


def test_a_question_is_open_until_a_message_names_it(demo: Project, t1: Task) -> None:
    api = APIClient()
    asked = post(api)
    assert card(demo)["needs_input"] is True
    assert task_changes() == ["question_asked"]

    post(api, type="FACT", body="unrelated")  # names no question: nothing changes
    assert card(demo)["needs_input"] is True
    answer = post(api, type="USER", body="PostgreSQL", parents=[asked])

    assert card(demo)["needs_input"] is False
    assert Message.objects.get(msg_id=answer).parents == [asked]
    assert not OpenQuestion.objects.exists()
    assert task_changes() == ["question_asked", "question_answered"]
    post(api, type="USER", body="again", parents=[asked])  # answered already: no event
    assert task_changes() == ["question_asked", "question_answered"]


def test_a_project_bus_question_is_open_until_answered_and_marks_no_task(
    demo: Project, t1: Task
) -> None:
    api = APIClient()
    asked = post(api, task_id=None)

    assert OpenQuestion.objects.get().message.msg_id == asked
    assert card(demo)["needs_input"] is False
    assert board_stats(demo)["needs_input"] == 0
    post(api, task_id=None, type="USER", body="yes", parents=[asked])
    assert not OpenQuestion.objects.exists() and task_changes() == []


def test_the_migration_opens_the_project_bus_questions_asked_before_it(
    demo: Project, t1: Task
) -> None:
    for msg_id in ("q-open", "q-answered"):
        Message.objects.create(msg_id=msg_id, project=demo, type="QUESTION")
    Message.objects.create(msg_id="reply", project=demo, task=t1, parents=["q-answered"])
    Message.objects.create(msg_id="q-task", project=demo, task=t1, type="QUESTION")  # 0010's
    migration = importlib.import_module("tasks.migrations.0011_open_question_project_bus")

    migration.project_questions_fill(apps, None)

    assert list(OpenQuestion.objects.values_list("message__msg_id", "task")) == [("q-open", None)]
    migration.project_questions_drop(apps, None)
    assert not OpenQuestion.objects.exists()


def test_the_group_committed_path_records_the_question_too(demo: Project, t1: Task) -> None:
    """Agents post through the lean route's writer (`messagebus.writer`)."""
    asking = Post(project_id="demo", task_id="t1", type="QUESTION", body="May I?", meta={})
    chatting = Post(project_id="demo", task_id="t1", type="PROGRESS", body="working", meta={})

    assert len(_committed_batch([asking, chatting])) == 2

    assert card(demo)["needs_input"] is True
    assert task_changes() == ["question_asked"]


def test_a_task_made_to_answer_a_question_answers_it(demo: Project, run_of_t1: Run) -> None:
    """The threaded-answer workflow (`tasks.threads`): the child task's link names it."""
    api = APIClient()
    asked = post(api, run_id=run_of_t1.id)
    ref = {"project_id": "demo", "task_id": "t1", "run_id": run_of_t1.id, "message_id": asked}
    body = {"project_id": "demo", "task_id": "child", "agent_type": "shell", "prompt": "true"}

    response = api.post("/api/v1/tasks", {**body, "thread_parent": ref}, format="json")

    assert response.status_code == 201, response.content
    assert card(demo)["needs_input"] is False
    assert task_changes() == ["question_asked", "question_answered"]


@pytest.mark.parametrize("shown", [1, 40])
def test_the_badges_of_a_page_cost_no_query_per_card(demo: Project, shown: int) -> None:
    for n in range(shown):
        task = make_task(demo, f"t{n:02}")
        asked = Message.objects.create(msg_id=f"q{n}", project=demo, task=task, type="QUESTION")
        OpenQuestion.objects.create(message=asked, task=task)

    with CaptureQueriesContext(connection) as queries:
        cards, _ = board_column(demo, "todo", limit=50, offset=0)

    assert len(cards) == shown and all(card["needs_input"] for card in cards)
    assert len(queries) <= 5


def test_the_board_shows_the_badge(client: Client, demo: Project, t1: Task) -> None:
    make_task(demo, "quiet")
    post(APIClient())

    page = client.get("/ui/projects/demo/").content.decode()

    badge = '<span class="badge needs-input"'
    assert page.count(badge) == 1
    card_html = page[page.index('data-task="t1"') :]
    assert card_html.index(badge) < card_html.index("</li>")
