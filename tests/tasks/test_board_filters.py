"""The board's search and filters (`q`, `agent`, `status`, `needs-input` among the statuses):
server-side, on the page, its column pages and their counts, a fixed number of queries
however many tasks match; anything else in them is refused in the error shape. And the
column page the live board reads again (`limit`, `X-Column-Count`)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conductor_site.live.history import newest_id
from messagebus.services import message_append
from projects.models import Project
from runs.models import RunStatus
from tasks.events import task_changed
from tasks.models import Task
from tests.helpers import assert_error
from tests.projects.builders import make_run, make_task


def cards(page: str) -> set[str]:
    return set(re.findall(r'class="card"[^>]*data-task="([^"]+)"', page))


def test_the_search_reads_title_prompt_and_id_case_blind(client: Client, project: Project) -> None:
    make_task(project, "login", title="Fix the Login page")
    make_task(project, "docs", title="Docs", prompt="write about the LOGIN flow")
    make_task(project, "other", title="Other", prompt="true")
    make_task(project, "login-later", title="Later", column="done")

    page = client.get("/ui/projects/demo/?q=login").content.decode()

    assert cards(page) == {"login", "docs", "login-later"}
    assert '<span class="muted count">2</span>' in page  # to do: two of three match
    assert 'value="login"' in page


def test_the_agent_filter_and_the_status_filter(client: Client, project: Project) -> None:
    make_run(make_task(project, "busy"), RunStatus.RUNNING)
    make_run(make_task(project, "broken"), RunStatus.FAILED)
    fixed = make_task(project, "fixed", agent_type="claude")
    make_run(fixed, RunStatus.FAILED, age=timedelta(minutes=5))
    make_run(fixed, RunStatus.SUCCESS)  # its latest run passed: no longer failed

    assert cards(client.get("/ui/projects/demo/?agent=claude").content.decode()) == {"fixed"}
    failed = client.get("/ui/projects/demo/?status=failed").content.decode()
    assert cards(failed) == {"broken"}
    assert re.search(r'id="column-todo">To do <span class="muted count">1<', failed)
    running = client.get("/ui/projects/demo/columns/todo/?status=running")
    assert cards(running.content.decode()) == {"busy"}
    assert running["X-Column-Count"] == "1"


def asked(project: Project, task_id: str, **fields: Any) -> str:
    """A task with a finished run whose agent asked a question on its bus; the question's id."""
    make_run(make_task(project, task_id, **fields))
    question = message_append(project_id="demo", task_id=task_id, type="QUESTION", body="?")
    return question.msg_id


def test_needs_input_keeps_the_tasks_with_a_question_not_answered(
    client: Client, project: Project
) -> None:
    asked(project, "asking")
    asked(project, "asking-too", column="inreview")
    answered = asked(project, "answered")
    message_append(project_id="demo", task_id="answered", body="yes", parents=[answered])
    make_run(make_task(project, "quiet"))
    message_append(project_id="demo", type="QUESTION", body="on the project's own bus")

    page = client.get("/ui/projects/demo/?status=needs-input").content.decode()
    column = client.get("/ui/projects/demo/columns/todo/?status=needs-input")

    assert cards(page) == {"asking", "asking-too"}
    assert re.search(r'id="column-todo">To do <span class="muted count">1<', page)
    assert re.search(r'id="column-inreview">In review <span class="muted count">1<', page)
    assert page.count('<span class="badge needs-input"') == 2
    assert '<option value="needs-input" selected>needs input</option>' in page
    assert "data-computed" not in page  # a run's change cannot bring a card in
    assert cards(column.content.decode()) == {"asking"} and column["X-Column-Count"] == "1"
    assert "data-computed" in client.get("/ui/projects/demo/?status=failed").content.decode()


def test_needs_input_is_a_fixed_number_of_queries_however_many_tasks_ask(
    client: Client, project: Project, django_assert_max_num_queries: Any
) -> None:
    board = "/ui/projects/demo/?status=needs-input"
    more = "/ui/projects/demo/columns/todo/?status=needs-input&offset=1"
    for n, column in enumerate(["todo", "todo", "inprogress"]):  # no empty page: no query
        asked(project, f"early-{n}", column=column)
    with CaptureQueriesContext(connection) as few:
        client.get(board)
        client.get(more)
    for n in range(120):
        asked(project, f"late-{n:03}", column="inprogress" if n % 2 else "todo")

    with django_assert_max_num_queries(len(few.captured_queries)):
        page, rest = client.get(board), client.get(more)

    assert len(cards(page.content.decode())) == 100  # 50 a column, each with "Show more"
    assert re.search(r'id="column-todo">To do <span class="muted count">62<', page.content.decode())
    assert len(cards(rest.content.decode())) == 50 and rest["X-Column-Count"] == "62"


def test_a_column_page_reads_again_with_a_limit_and_keeps_the_filters(
    client: Client, project: Project
) -> None:
    Task.objects.bulk_create(
        Task(
            project=project, task_id=f"t{i:03}", prompt=f"p{i % 2}", agent_type="shell", position=i
        )
        for i in range(120)
    )

    response = client.get("/ui/projects/demo/columns/todo/?offset=0&limit=80&q=p1")

    page = response.content.decode()
    assert len(cards(page)) == 60 and "Show more" not in page
    assert response["X-Column-Count"] == "60"
    more = client.get("/ui/projects/demo/columns/todo/?offset=0&limit=10&q=p1").content.decode()
    assert "?offset=10&amp;q=p1" in more


def test_wrong_filters_are_refused_in_the_error_shape(client: Client, project: Project) -> None:
    for query in [
        "status=sleeping",
        "status=needs%20input",
        "agent=../shell",
        "agent=a%20b",
        f"q={'x' * 201}",
    ]:
        assert_error(client.get(f"/ui/projects/demo/?{query}"), 400, "BAD_REQUEST")
        assert_error(client.get(f"/ui/projects/demo/columns/todo/?{query}"), 400, "BAD_REQUEST")
    for limit in ["-1", "501", "x"]:
        response = client.get(f"/ui/projects/demo/columns/todo/?limit={limit}")
        assert_error(response, 400, "BAD_REQUEST")


def test_the_page_carries_the_event_cursor_it_was_read_at(client: Client, project: Project) -> None:
    task_changed(make_task(project, "seen"), "created")
    page = client.get("/ui/projects/demo/").content.decode()
    assert f'data-cursor="{newest_id()}"' in page and newest_id() > 0
    assert 'data-stream="/ws/projects/demo/board/"' in page
