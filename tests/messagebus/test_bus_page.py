"""The dashboard's threads of a bus (`static/ui/bus.js`): its pages read from the newest
back (`/ui/projects/<p>/[tasks/<t>/]messages/page/`), with the questions still open, the
project's bus page linked from the board, and posts and answers through `/ui/api/v1/messages`
with the signed-in session and its CSRF token."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.test import Client
from pytest_django.fixtures import Settings

from messagebus.models import Message
from messagebus.services import message_append
from projects.models import Project
from tasks.models import OpenQuestion, Task
from tests.helpers import assert_error
from tests.projects.builders import make_run, make_task

TASK_PAGE = "/ui/projects/demo/tasks/t1/messages/page/"


def appended(count: int, **fields: Any) -> list[str]:
    return [message_append(project_id="demo", body=f"m{n}", **fields).msg_id for n in range(count)]


def test_the_newest_page_first_then_the_one_before_it(client: Client, project: Project) -> None:
    make_task(project, "t1")
    ids = appended(5, task_id="t1")
    message_append(project_id="demo", body="on the project bus")

    newest = client.get(TASK_PAGE, {"limit": "2"}).json()
    before = client.get(TASK_PAGE, {"limit": "2", "before": ids[3]}).json()
    first = client.get(TASK_PAGE, {"limit": "2", "before": ids[1]}).json()

    assert [m["msg_id"] for m in newest["messages"]] == ids[3:] and newest["earlier"] is True
    assert [m["msg_id"] for m in before["messages"]] == ids[1:3] and before["earlier"] is True
    assert [m["msg_id"] for m in first["messages"]] == ids[:1] and first["earlier"] is False
    assert newest["messages"][0]["body"] == "m3" and newest["messages"][0]["task_id"] == "t1"


def test_the_project_page_merges_its_buses(client: Client, project: Project) -> None:
    make_task(project, "t1")
    ids = appended(1, task_id="t1") + appended(1)

    page = client.get("/ui/projects/demo/messages/page/").json()

    assert [m["msg_id"] for m in page["messages"]] == ids and page["earlier"] is False


def test_a_question_is_listed_open_until_a_reply_names_it(client: Client, project: Project) -> None:
    make_task(project, "t1")
    asked = message_append(project_id="demo", task_id="t1", type="QUESTION", body="which?")
    assert client.get(TASK_PAGE).json()["open_questions"] == [asked.msg_id]

    message_append(project_id="demo", task_id="t1", body="this one", parents=[asked.msg_id])

    assert client.get(TASK_PAGE).json()["open_questions"] == []


def test_a_project_bus_question_is_listed_open_on_the_project_page_until_answered(
    client: Client, project: Project
) -> None:
    make_task(project, "t1")
    asked = message_append(project_id="demo", type="QUESTION", body="freeze on Friday?")
    on_task = message_append(project_id="demo", task_id="t1", type="QUESTION", body="which?")
    page = "/ui/projects/demo/messages/page/"
    assert set(client.get(page).json()["open_questions"]) == {asked.msg_id, on_task.msg_id}

    message_append(project_id="demo", body="yes", parents=[asked.msg_id])

    assert client.get(page).json()["open_questions"] == [on_task.msg_id]


def test_bad_cursors_limits_and_buses_are_refused(client: Client, project: Project) -> None:
    make_task(project, "t1")
    assert_error(client.get(TASK_PAGE, {"before": "MSG-nope"}), 404, "NOT_FOUND")
    assert_error(client.get(TASK_PAGE, {"before": "a/b"}), 400, "BAD_REQUEST")
    for limit in ("0", "201", "x", "-1", "٣"):
        assert_error(client.get(TASK_PAGE, {"limit": limit}), 400, "BAD_REQUEST")
    assert_error(client.get("/ui/projects/demo/tasks/ghost/messages/page/"), 404, "NOT_FOUND")
    assert_error(client.get("/ui/projects/ghost/messages/page/"), 404, "NOT_FOUND")
    assert_error(client.get("/ui/projects/a.b/messages/page/"), 400, "BAD_REQUEST")


def test_the_task_page_and_the_project_bus_page_hold_the_threads_the_attempt_links_them(
    client: Client, project: Project
) -> None:
    make_task(project, "t1")
    task_page = client.get("/ui/projects/demo/tasks/t1/").content.decode()
    bus_page = client.get("/ui/projects/demo/messages/").content.decode()
    board = client.get("/ui/projects/demo/").content.decode()

    assert 'data-socket="/ws/projects/demo/tasks/t1/messages/"' in task_page
    assert 'data-socket="/ws/projects/demo/messages/"' in bus_page
    assert 'href="/ui/projects/demo/messages/"' in board
    assert client.get("/ui/projects/ghost/messages/").status_code == 404
    attempt = make_run(Task.objects.get(task_id="t1")).attempt
    attempt_page = client.get(f"/ui/attempts/{attempt.id}/").content.decode()
    assert 'href="/ui/projects/demo/tasks/t1/#bus"' in attempt_page


def test_an_answer_posted_with_the_session_closes_the_question(
    settings: Settings, project: Project
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "bus-key"}
    User.objects.create_user("ada", password="a long pass phrase")
    browser = Client(enforce_csrf_checks=True)
    browser.login(username="ada", password="a long pass phrase")
    make_task(project, "t1")
    asked = message_append(project_id="demo", task_id="t1", type="QUESTION", body="which?")
    browser.get("/ui/projects/demo/tasks/t1/")
    token = browser.cookies["csrftoken"].value
    body = {"project_id": "demo", "task_id": "t1", "body": "that one", "parents": [asked.msg_id]}

    refused = browser.post("/ui/api/v1/messages", body, content_type="application/json")
    answered = browser.post(
        "/ui/api/v1/messages", body, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )

    assert_error(refused, 403, "FORBIDDEN")
    assert answered.status_code == 201, answered.content
    reply = Message.objects.get(msg_id=answered.json()["msg_id"])
    assert (reply.type, reply.parents, reply.task_id) == ("USER", [asked.msg_id], asked.task_id)
    assert not OpenQuestion.objects.exists()


def test_a_signed_out_post_is_refused(settings: Settings, project: Project) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "bus-key"}
    body = {"project_id": "demo", "body": "hello"}

    response = Client().post("/ui/api/v1/messages", body, content_type="application/json")

    assert_error(response, 401, "UNAUTHORIZED")
    assert not Message.objects.exists()
