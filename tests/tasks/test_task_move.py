"""Moving a task on the board: the service, `POST /api/v1/tasks/<t>/move` and the board's
own form post; a move into `cancelled` cancels the task."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from projects.models import Project
from runs.models import Run, RunStatus
from tasks.models import Task
from tasks.services import TaskMoveRefused, task_move
from tests.conftest import create_task, run_finished, wait_for
from tests.helpers import assert_error


def board(project: Project, column: str) -> list[str]:
    tasks = Task.objects.filter(project=project, column=column).order_by("position", "id")
    return list(tasks.values_list("task_id", flat=True))


@pytest.fixture
def cards(project: Project) -> list[Task]:
    """Four tasks in `todo`, positions 0 to 3."""
    return [
        Task.objects.create(
            project=project, task_id=f"t{i}", prompt="true", agent_type="shell", position=i
        )
        for i in range(4)
    ]


def test_a_task_moves_between_two_cards_of_another_column(
    project: Project, cards: list[Task]
) -> None:
    task_move(cards[0], "inreview")
    task_move(cards[1], "inreview")

    task_move(cards[2], "inreview", after="t0", before="t1")

    assert board(project, "inreview") == ["t0", "t2", "t1"]
    assert board(project, "todo") == ["t3"]


def test_a_task_moves_to_the_top_and_to_the_end_of_its_column(
    project: Project, cards: list[Task]
) -> None:
    task_move(cards[3], "todo", before="t0")
    assert board(project, "todo") == ["t3", "t0", "t1", "t2"]

    task_move(cards[0], "todo")
    assert board(project, "todo") == ["t3", "t1", "t2", "t0"]


def test_cards_with_equal_positions_are_renumbered_to_make_room(project: Project) -> None:
    for name in ("a", "b", "c"):
        Task.objects.create(project=project, task_id=name, prompt="true", agent_type="shell")
    c = Task.objects.get(task_id="c")

    task_move(c, "todo", after="a", before="b")

    assert board(project, "todo") == ["a", "c", "b"]


def test_neighbours_in_the_wrong_order_still_end_in_a_move(
    project: Project, cards: list[Task]
) -> None:
    task_move(cards[0], "todo", after="t3", before="t1")

    assert set(board(project, "todo")) == {"t0", "t1", "t2", "t3"}


@pytest.mark.parametrize(
    "column, after, message",
    [
        ("nowhere", "", "column must be one of"),
        ("todo", "missing", "no other task 'missing'"),
        ("inreview", "t1", "no other task 't1' in column 'inreview'"),
        ("todo", "t0", "no other task 't0'"),
    ],
)
def test_a_wrong_column_or_neighbour_is_refused(
    project: Project, cards: list[Task], column: str, after: str, message: str
) -> None:
    with pytest.raises(TaskMoveRefused, match=message):
        task_move(cards[0], column, after=after)

    assert board(project, "todo") == ["t0", "t1", "t2", "t3"]


def test_the_api_moves_a_task(api: APIClient, project: Project, cards: list[Task]) -> None:
    response = api.post("/api/v1/tasks/t3/move?project_id=demo", {"column": "done"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "project_id": "demo",
        "task_id": "t3",
        "column": "done",
        "position": 0.0,
    }
    assert board(project, "done") == ["t3"]


@pytest.mark.parametrize(
    "path, body, status",
    [
        ("/api/v1/tasks/t3/move?project_id=demo", {"column": "later"}, 400),
        ("/api/v1/tasks/t3/move?project_id=demo", {"column": "todo", "after": "zz"}, 400),
        ("/api/v1/tasks/t3/move", {"column": "todo"}, 400),
        ("/api/v1/tasks/nope/move?project_id=demo", {"column": "todo"}, 404),
        ("/api/v1/tasks/t3/move?project_id=demo", ["todo"], 400),
    ],
)
def test_the_api_refuses_a_wrong_move_in_the_error_shape(
    api: APIClient, cards: list[Task], path: str, body: object, status: int
) -> None:
    response = api.post(path, body, format="json")

    assert_error(response, status, "BAD_REQUEST" if status == 400 else "NOT_FOUND")


def test_the_board_posts_a_move_with_its_csrf_token(project: Project, cards: list[Task]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/ui/projects/demo/")
    token = client.cookies["csrftoken"].value
    url = "/ui/projects/demo/tasks/t0/move/"

    refused = client.post(url, {"column": "done"})
    moved = client.post(url, {"column": "done"}, HTTP_X_CSRFTOKEN=token)

    assert refused.status_code == 403
    assert moved.status_code == 204
    assert board(project, "done") == ["t0"]


def test_the_board_answers_a_wrong_move_in_the_error_shape(
    client: Client, cards: list[Task]
) -> None:
    response = client.post("/ui/projects/demo/tasks/t0/move/", {"column": "sideways"})

    assert_error(response, 400, "BAD_REQUEST")


def test_moving_a_running_task_to_cancelled_stops_it(work: str, api: APIClient) -> None:
    Project.objects.create(id="demo")
    started = create_task(api, prompt="echo started; sleep 600")
    run = Run.objects.get(id=started["run_id"])
    wait_for(lambda: Run.objects.get(id=run.id).status == RunStatus.RUNNING, what="the run")

    task_move(Task.objects.get(task_id="t1"), "cancelled")

    assert run_finished(run.id).status == RunStatus.STOPPED
    assert Task.objects.get(task_id="t1").column == "cancelled"
