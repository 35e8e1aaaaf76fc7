"""bus_totals: the project stats' `message_bus_files` and `message_bus_total_bytes`."""

from __future__ import annotations

from messagebus.selectors import bus_totals
from messagebus.services import message_append
from projects.models import Project
from tasks.models import Task
from tests.messagebus.conftest import make_task


def test_an_empty_project_has_no_buses(demo: Project) -> None:
    assert bus_totals("demo") == (0, 0)


def test_counts_the_project_bus_and_each_task_bus_that_holds_messages(t1: Task) -> None:
    make_task(t1.project, "t2")
    make_task(t1.project, "silent")
    message_append(project_id="demo", task_id="t1", body="abc")
    message_append(project_id="demo", task_id="t1", body="de")
    message_append(project_id="demo", task_id="t2", body="f")

    assert bus_totals("demo") == (2, 6)

    message_append(project_id="demo", body="g")
    assert bus_totals("demo") == (3, 7)


def test_bytes_are_utf8_bytes_not_characters(demo: Project) -> None:
    message_append(project_id="demo", body="é✓")  # 2 + 3 bytes

    assert bus_totals("demo") == (1, 5)


def test_other_projects_do_not_count(demo: Project) -> None:
    Project.objects.create(id="other")
    message_append(project_id="other", body="xyz")

    assert bus_totals("demo") == (0, 0)
