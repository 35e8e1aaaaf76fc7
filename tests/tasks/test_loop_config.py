"""`config.loop` is checked when a task is created and read back within its bounds."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from projects.models import Project
from runs.models import Run
from tasks.loop import DELAY_MAX_SECONDS, Loop
from tasks.models import Task
from tests.helpers import assert_error

VALID = {"project_id": "demo", "task_id": "t1", "agent_type": "shell", "prompt": "true"}


def create(api: APIClient, loop: Any) -> Any:
    return api.post("/api/v1/tasks", {**VALID, "config": {"loop": loop}}, format="json")


@pytest.mark.parametrize(
    ("loop", "error"),
    [
        ({"max_iterations": 10**30}, "max_iterations: Ensure this value is less than or equal"),
        ({"max_iterations": 1001}, "max_iterations: Ensure this value is less than or equal"),
        ({"max_iterations": "x"}, "max_iterations: A valid integer is required"),
        ({"max_iterations": 0}, "max_iterations: Ensure this value is greater than or equal"),
        ({"max_iterations": 2.5}, "max_iterations: A valid integer is required"),
        ({"max_iterations": None}, "max_iterations: This field may not be null"),
        ({"delay_seconds": -1}, "delay_seconds: Ensure this value is greater than or equal"),
        ({"delay_seconds": "soon"}, "delay_seconds: A valid number is required"),
        ({"delay_seconds": DELAY_MAX_SECONDS + 1}, "delay_seconds: Ensure this value is less"),
        ({"delay_seconds": "1e999"}, "delay_seconds: A valid number is required"),
        ("x", "Must be true, false or an object"),
        (5, "Must be true, false or an object"),
        ([], "Must be true, false or an object"),
    ],
)
def test_a_bad_loop_is_a_400_naming_the_field(
    db: None, api: APIClient, loop: Any, error: str
) -> None:
    body = assert_error(create(api, loop), 400, "BAD_REQUEST")

    assert body["error"].startswith(f"config: loop: {error}"), body["error"]
    assert "loop" in body["details"]["fields"]["config"]
    assert not Task.objects.exists() and not Run.objects.exists()
    assert not Project.objects.exists()


def test_the_iteration_cap_is_a_setting(db: None, api: APIClient, settings: Settings) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "LOOP_MAX_ITERATIONS": 3}

    body = assert_error(create(api, {"max_iterations": 4}), 400, "BAD_REQUEST")

    assert "less than or equal to 3" in body["error"]
    assert create(api, {"max_iterations": 3}).status_code == 201


@pytest.mark.parametrize(
    ("loop", "stored"),
    [
        (True, True),
        (False, False),
        ({}, {}),
        (
            {"max_iterations": 1000, "delay_seconds": 0},
            {"max_iterations": 1000, "delay_seconds": 0},
        ),
        (
            {"max_iterations": "3", "delay_seconds": "1.5"},
            {"max_iterations": 3, "delay_seconds": 1.5},
        ),
        ({"max_iterations": 2, "note": "kept"}, {"max_iterations": 2, "note": "kept"}),
    ],
)
def test_a_good_loop_is_stored_with_numbers(
    db: None, api: APIClient, loop: Any, stored: Any
) -> None:
    assert create(api, loop).status_code == 201

    assert Task.objects.get(task_id="t1").config == {"loop": stored}


@pytest.mark.parametrize(
    ("loop", "read"),
    [
        ({"max_iterations": 10**30, "delay_seconds": 1e300}, Loop(1000, DELAY_MAX_SECONDS)),
        ({"max_iterations": "x", "delay_seconds": "y"}, Loop(10, 0.0)),
        ({"max_iterations": -5, "delay_seconds": -1}, Loop(1, 0.0)),
        ({"max_iterations": "nan"}, Loop(10, 0.0)),
        (True, Loop(10, 0.0)),
        ("x", None),
    ],
)
def test_a_loop_stored_before_the_check_is_read_within_the_bounds(
    db: None, loop: Any, read: Loop | None
) -> None:
    """Rows from before the check: the loop still runs, bounded, instead of failing."""
    project = Project.objects.create(id="demo")
    task = Task.objects.create(project=project, task_id="t1", prompt="p", config={"loop": loop})

    assert task.loop == read
