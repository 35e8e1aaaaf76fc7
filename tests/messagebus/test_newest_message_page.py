"""`/ui/projects/<p>/messages/newest/`: where the notifications start following a project's
buses (its newest message on any of them), so older questions are not announced again."""

from __future__ import annotations

from django.test import Client

from messagebus.services import message_append
from projects.models import Project
from tests.helpers import assert_error
from tests.projects.builders import make_task


def test_the_newest_message_of_any_bus_of_the_project(client: Client, project: Project) -> None:
    assert client.get("/ui/projects/demo/messages/newest/").json() == {"msg_id": ""}
    make_task(project, "t1")
    message_append(project_id="demo", body="first")
    newest = message_append(project_id="demo", task_id="t1", type="QUESTION", body="which?")

    answer = client.get("/ui/projects/demo/messages/newest/")

    assert answer.status_code == 200 and answer.json() == {"msg_id": newest.msg_id}


def test_an_unknown_or_invalid_project_is_refused(client: Client, project: Project) -> None:
    assert_error(client.get("/ui/projects/ghost/messages/newest/"), 404, "NOT_FOUND")
    assert_error(client.get("/ui/projects/a.b/messages/newest/"), 400, "BAD_REQUEST")
