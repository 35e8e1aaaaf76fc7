"""The board page: columns of cards with their badges, a page of cards at a time, and the
task form through `task_submit`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings

from messagebus.models import Message
from projects.models import Project
from runs.models import Attempt, RunStatus
from tasks.forms import DEPENDENCY_CHOICES
from tasks.models import OpenQuestion, Tag, Task
from tasks.selectors import dependency_candidates
from tasks.views import COLUMN_PAGE
from tests.helpers import git_cli
from tests.projects.builders import make_run, make_task
from tests.tasks.test_images import png


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
    form = {"title": "Fix the login", "prompt": "echo fixed\r\nexit 0", "agent": "shell"}

    response = client.post(
        "/ui/projects/demo/tasks/new/", {**form, "depends_on": "first", "task_id": ""}
    )

    assert response.status_code == 302
    task = Task.objects.get(title="Fix the login")
    assert re.fullmatch(r"task-\d{8}-\d{6}-fix-the-login", task.task_id)
    assert task.prompt == "echo fixed\nexit 0" and task.depends_on == ["first"]  # LF line ends
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
        ({"prompt": "x", "agent": "shell", "depends_on": ["ok", "../up"]}, "not a task id: ../up"),
        (
            {"prompt": "x", "agent": "shell", "depends_on": [f"t{i}" for i in range(101)]},
            "at most 100",
        ),
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


def test_the_form_attaches_images_and_starts_from_the_chosen_base_branch(
    client: Client, project: Project, git_repo: Path
) -> None:
    git_cli(git_repo, "branch", "release")
    make_task(project, "first")
    make_task(project, "second")
    page = client.get("/ui/projects/demo/").content.decode()
    assert '<option value="release">release</option>' in page
    assert '<option value="first">' in page

    shot = SimpleUploadedFile("shot.png", png(), content_type="text/plain")  # the bytes decide
    response = client.post(
        "/ui/projects/demo/tasks/new/",
        {
            "prompt": "look at it",
            "agent": "shell",
            "task_id": "pictured",
            "base_branch": "release",
            "depends_on": ["first", "second"],
            "images": [shot],
            "start": "now",
        },
    )

    assert response.status_code == 302
    task = Task.objects.get(task_id="pictured")
    assert task.depends_on == ["first", "second"]
    image = task.images.get()
    assert image.original_name == "shot.png" and image.mime_type == "image/png"
    attempt = task.attempts.get()
    assert attempt.base_branch == "release"
    assert f".conductor/images/{image.file_name}" in attempt.runs.get().prompt


def test_save_for_later_makes_the_task_without_starting_it(
    client: Client, project: Project, settings: Settings
) -> None:
    Tag.objects.create(name="style", content="Follow STYLE.md.")
    settings.CONDUCTOR = {**settings.CONDUCTOR, "DISABLE_TASK_START": True}
    form = {"title": "Later", "prompt": "@style please", "agent": "shell", "task_id": "later"}

    response = client.post("/ui/projects/demo/tasks/new/", {**form, "start": "later"})

    assert response.status_code == 302
    task = Task.objects.get(task_id="later")
    assert task.column == "todo" and task.attempts.count() == 0
    assert task.prompt == "Follow STYLE.md. please"
    assert "Task later saved for later." in client.get("/ui/projects/demo/").content.decode()


def test_a_wrong_image_is_named_next_to_its_field_and_nothing_is_lost(
    client: Client, project: Project
) -> None:
    make_task(project, "first")
    fake = SimpleUploadedFile("notes.png", b"#!/bin/sh\nrm -rf /\n", content_type="image/png")
    form = {"title": "Keep me", "prompt": "every\nline", "agent": "shell", "depends_on": ["first"]}

    response = client.post("/ui/projects/demo/tasks/new/", {**form, "images": [fake]})

    page = response.content.decode()
    assert response.status_code == 200
    errors = page.split('id="id_images_errors"')[1].split("</ul>")[0]
    assert "notes.png: not a whole PNG, JPEG, GIF or WebP image" in errors
    assert 'value="Keep me"' in page and ">\nevery\nline</textarea>" in page
    assert '<option value="first" selected>' in page
    assert list(Task.objects.values_list("task_id", flat=True)) == ["first"]


def test_more_than_ten_images_are_refused(client: Client, project: Project) -> None:
    shots = [SimpleUploadedFile(f"s{i}.png", png(), content_type="image/png") for i in range(11)]

    response = client.post(
        "/ui/projects/demo/tasks/new/", {"prompt": "x", "agent": "shell", "images": shots}
    )

    assert "at most 10 images" in response.content.decode()
    assert not Task.objects.exists()


def test_posted_by_htmx_the_form_comes_back_alone_or_redirects(
    client: Client, project: Project
) -> None:
    url = "/ui/projects/demo/tasks/new/"
    wrong = client.post(url, {"prompt": "", "agent": "shell"}, headers={"HX-Request": "true"})

    assert wrong.status_code == 200
    assert (
        wrong.content.decode().lstrip().startswith("<form")
        and "<html" not in wrong.content.decode()
    )
    assert "This field is required." in wrong.content.decode()

    right = client.post(
        url, {"prompt": "true", "agent": "shell", "task_id": "ok"}, headers={"HX-Request": "true"}
    )
    assert right.status_code == 200 and right["HX-Redirect"] == "/ui/projects/demo/"
    assert Task.objects.filter(task_id="ok").exists()


def test_a_base_branch_that_is_not_a_local_branch_is_refused(
    client: Client, project: Project
) -> None:
    for branch in ["origin/main", "nope", "--upload-pack=x", "main\n"]:
        response = client.post(
            "/ui/projects/demo/tasks/new/",
            {"prompt": "true", "agent": "shell", "base_branch": branch},
        )
        assert "Select a valid choice" in response.content.decode(), branch
    assert not Task.objects.exists()


def test_the_tags_are_listed_for_the_session_under_ui(client: Client, db: None) -> None:
    Tag.objects.create(name="review", content="Review it.")
    Tag.objects.create(name="style", content="Style.")

    answer = client.get("/ui/api/v1/tags?search=rev").json()

    assert [tag["name"] for tag in answer["items"]] == ["review"]


def test_the_forms_depends_on_list_is_read_from_an_index_not_a_sort_of_every_task(
    project: Project,
) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the plan asserted is SQLite's")
    with CaptureQueriesContext(connection) as queries:
        dependency_candidates(project, DEPENDENCY_CHOICES)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + queries.captured_queries[-1]["sql"])
        plan = str(cursor.fetchall())

    assert "USING INDEX task_project_updated" in plan, plan


def test_the_stats_bar_counts_the_whole_project(client: Client, project: Project) -> None:
    make_run(make_task(project, "busy"), RunStatus.RUNNING)
    make_run(make_task(project, "broken", column="inreview"), RunStatus.FAILED)
    waiting = make_task(project, "waiting")
    Attempt.objects.create(task=waiting, agent="shell")  # not admitted yet: queued or blocked
    asked = Message.objects.create(msg_id="q1", project=project, task=waiting, type="QUESTION")
    OpenQuestion.objects.create(message=asked, task=waiting)

    bar = client.get("/ui/projects/demo/stats/?q=nothing-matches").content.decode()
    numbers = dict(re.findall(r'data-stat="([a-z-]+)"[^>]*><strong>(\d+)</strong>', bar))

    assert numbers == {
        "tasks": "3",
        "running": "1",
        "waiting": "1",
        "needs-input": "1",
        "inreview": "1",
        "done": "0",
        "completed": "0",
        "failed": "1",
        "crashed": "0",
        "runs": "2",
    }
    assert "1</strong> needs input" in bar
    assert client.get("/ui/projects/nope/stats/").status_code == 404
