"""A delete holds what it deletes from its first statement: an operation asked for meanwhile
(a merge, a rebase, an archive takes the attempt's slot) waits for the delete to end.

PostgreSQL only (`-m production`): SQLite has one writer at a time, and the delete's
transaction holds it whole.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from conductor_site.locks import delete_lock
from messagebus.writer import Post, _committed_batch
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


def test_a_batch_appended_while_a_delete_holds_the_task_commits_and_the_delete_goes_on() -> None:
    """The delete holds its rows from its first statement, and takes the bus's lock later;
    an append holds the bus's lock, and its foreign key's check at the commit reads its task
    row: a lock on that row for an update (not a key update) waits for no append, or the two
    deadlocked (PostgreSQL failed one: a 500 for a post, found by the production bus test)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: the delete's transaction holds it whole")
    task = make_task(Project.objects.create(id="demo"), "t1")
    post = Post(project_id="demo", task_id="t1", type="FACT", body="meanwhile", meta={})
    appended = threading.Event()

    def append() -> None:
        _committed_batch([post])
        appended.set()

    batch = Side(append)

    def delete() -> None:
        tasks_held_idle(Task.objects.filter(pk=task.pk), "task 't1'")
        batch.start()
        wait_for(lambda: appended.is_set() or waiting_for_a_lock(batch), TIMEOUT, "the batch")
        delete_lock()
        Task.objects.filter(pk=task.pk).delete()

    with held_open(delete):
        pass

    assert batch.ended() is None
    assert not Task.objects.filter(pk=task.pk).exists()
