"""A delete holds what it deletes from its first statement: an operation asked for meanwhile
(a merge, a rebase, an archive takes the attempt's slot) waits for the delete to end.

PostgreSQL only (`-m production`): SQLite has one writer at a time, and the delete's
transaction holds it whole.
"""

from __future__ import annotations

import pytest
from django.db import connection

from projects.models import Project
from runs import services as run_services
from tasks.models import Task
from tasks.services import tasks_held_idle
from tests.conftest import wait_for
from tests.projects.builders import make_run, make_task
from tests.transactions import TIMEOUT, Side, held_open, waiting_for_a_lock

pytestmark = [pytest.mark.production, pytest.mark.django_db(transaction=True)]


def test_a_merge_asked_for_while_a_delete_holds_the_task_waits_for_it() -> None:
    """Until the delete commits (then the attempt is gone, and the merge refused); here the
    delete is held after its first step, then refused, so the merge goes on."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: the delete's transaction holds it whole")
    task = make_task(Project.objects.create(id="demo"), "t1")
    attempt = make_run(task).attempt
    taken: list[object] = []

    merge = Side(lambda: taken.append(run_services.attempt_operation_begin(attempt.id, "merge")))
    with held_open(lambda: tasks_held_idle(Task.objects.filter(pk=task.pk), "task 't1'")):
        merge.start()
        wait_for(lambda: waiting_for_a_lock(merge), TIMEOUT, "the merge to wait for the delete")
        assert taken == []

    assert merge.ended() is None
    assert taken != [None]
