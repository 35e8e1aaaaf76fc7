"""An append beside a delete or a task change: it finds its bus under the bus lock, and it
takes the locks in the one order (`conductor_site.locks`).

Each test holds one transaction open on a thread, starts the other on a second thread, awaits
that one waiting for the first's lock, then lets the first commit. No marker but production:
it runs in the embedded pass (SQLite) and on PostgreSQL.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from conductor_site.locks import delete_lock
from messagebus.models import Message
from messagebus.selectors import BusNotFound
from messagebus.services import message_append
from messagebus.writer import Post, _committed_batch
from tasks.events import task_changed
from tasks.models import Task
from tests.conftest import wait_for
from tests.transactions import TIMEOUT, Side, held_open, waiting_for_a_lock

pytestmark = [pytest.mark.production, pytest.mark.django_db(transaction=True)]


def test_an_append_that_waited_for_a_task_delete_finds_its_bus_gone(t1: Task) -> None:
    """Conductor's own message (an attempt's outcome) to a task deleted meanwhile is
    BusNotFound: its lookup ran before it waited, and its commit failed the foreign key."""

    def delete() -> None:
        delete_lock()
        Task.objects.filter(pk=t1.pk).delete()

    append = Side(lambda: message_append(project_id="demo", task_id="t1", type="task_complete"))
    with held_open(delete):
        append.start()
        wait_for(lambda: waiting_for_a_lock(append), TIMEOUT, "the append to wait for the delete")

    assert isinstance(append.ended(), BusNotFound)
    assert not Message.objects.exists()


def test_a_question_batched_beside_a_task_change_takes_the_locks_in_order(t1: Task) -> None:
    """A batch with a question records its task's change (the event log's lock) after it
    took the bus's: beside a transaction that took them the other way (a task change, then
    an append) PostgreSQL found a deadlock and failed one of them."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: there is no lock order to get wrong")
    held = threading.Event()

    def change_then_append() -> None:
        with transaction.atomic():
            task_changed(t1, "updated")  # the event log's lock
            held.set()
            wait_for(lambda: waiting_for_a_lock(batch), TIMEOUT, "the batch to wait")
            message_append(project_id="demo", task_id="t1", body="after the change")

    question = Post(project_id="demo", task_id="t1", type="QUESTION", body="?", meta={})
    change = Side(change_then_append)
    batch = Side(lambda: _committed_batch([question]))
    change.start()
    assert held.wait(TIMEOUT)
    batch.start()

    assert change.ended() is None
    assert batch.ended() is None
    assert sorted(Message.objects.values_list("type", flat=True)) == ["QUESTION", "USER"]
