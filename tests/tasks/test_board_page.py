"""The board page: columns of cards with their badges, a page of cards at a time, and the
task form through `task_submit`."""

from __future__ import annotations

import re

from django.test import Client
from pytest_django.fixtures import Settings

from projects.models import Project
from runs.models import RunStatus
from tasks.models import Task
from tasks.views import COLUMN_PAGE
from tests.projects.builders import make_run, make_task


def column_of(page: str, column: str) -> str:
    match = re.search(rf'data-column="{column}".*?</ul>', page, re.S)
    assert match, column
    return match.group(0)


def test_cards_sit_in_their_columns_with_their_badges(client: Client, project: Project) -> None:
    make_run(make_task(project, "busy", title="Busy one"), RunStatus.RUNNING)
    make_task(project, "reviewing", column="inreview")
    make_run(make_task(project, "broken", column="done"), RunStatus.FAILED)

    page = client.get("/ui/projects/demo/").content.decode()

    assert "Busy one" in column_of(page, "todo")
    assert '<span class="badge running">running</span>' in column_of(page, "todo")
    assert 'data-task="reviewing"' in column_of(page, "inreview")
    assert '<span class="badge failed">failed</span>' in column_of(page, "done")
    assert 'data-task="busy"' not in column_of(page, "inreview")


def test_a_column_shows_one_page_and_fetches_the_next(client: Client, project: Project) -> None:
    Task.objects.bulk_create(
        Task(project=project, task_id=f"t{i:03}", prompt="true", agent_type="shell", position=i)
        for i in range(COLUMN_PAGE + 5)
    )

    page = client.get("/ui/projects/demo/").content.decode()
    rest = client.get(f"/ui/projects/demo/columns/todo/?offset={COLUMN_PAGE}").content.decode()

    todo = column_of(page, "todo")
    assert todo.count('class="card"') == COLUMN_PAGE
    assert f"?offset={COLUMN_PAGE}" in todo
    assert rest.count('class="card"') == 5
    assert 'data-task="t054"' in rest and "Show more" not in rest


def test_a_wrong_column_page_is_refused(client: Client, project: Project) -> None:
    assert client.get("/ui/projects/demo/columns/later/").status_code == 404
    for offset in ["-1", "x", "\u0661", "99999999999999"]:
        response = client.get(f"/ui/projects/demo/columns/todo/?offset={offset}")
        assert response.status_code == 400, offset


def test_the_form_creates_and_starts_a_task(client: Client, project: Project) -> None:
    make_task(project, "first")
    form = {"title": "Fix the login", "prompt": "echo fixed", "agent": "shell"}

    response = client.post(
        "/ui/projects/demo/tasks/new/", {**form, "depends_on": "first", "task_id": ""}
    )

    assert response.status_code == 302
    task = Task.objects.get(title="Fix the login")
    assert re.fullmatch(r"task-\d{8}-\d{6}-fix-the-login", task.task_id)
    assert task.prompt == "echo fixed" and task.depends_on == ["first"]
    assert task.attempts.count() == 1


def test_the_task_services_refusals_are_shown_in_the_form(
    client: Client, project: Project, settings: Settings
) -> None:
    make_task(project, "taken")
    url = "/ui/projects/demo/tasks/new/"
    cases = [
        ({"prompt": "x", "agent": "shell", "task_id": "taken"}, "already exists"),
        ({"prompt": "x", "agent": "shell", "task_id": "a b"}, "must be 1-128 characters"),
        ({"prompt": "x", "agent": "robot"}, "Select a valid choice"),
        ({"prompt": "x", "agent": "shell", "task_id": "c", "depends_on": "c"}, "cycle"),
        ({"prompt": "x", "agent": "shell", "depends_on": "ok, no/pe"}, "not a task id: no/pe"),
        ({"prompt": "x", "agent": "custom"}, "needs an agent profile"),
    ]
    for form, message in cases:
        response = client.post(url, form)

        assert response.status_code == 200, form
        assert message in response.content.decode(), form
    settings.CONDUCTOR = {**settings.CONDUCTOR, "DISABLE_TASK_START": True}
    disabled = client.post(url, {"prompt": "x", "agent": "shell"})
    assert "task execution is disabled" in disabled.content.decode()
    assert list(Task.objects.values_list("task_id", flat=True)) == ["taken"]
