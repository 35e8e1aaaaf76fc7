"""An append beside a delete or a task change: it finds its bus under the bus lock, and it
takes the locks in the one order (`conductor_site.locks`).

Each test holds one transaction open on a thread, starts the other on a second thread, awaits
that one waiting for the first's lock, then lets the first commit. No marker but production:
it runs in the embedded pass (SQLite) and on PostgreSQL.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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

pytestmark = [pytest.mark.production, pytest.mark.django_db(transaction=True)]

TIMEOUT = 30.0
WAITING = """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"""


class Side(threading.Thread):
    """`work` on its own thread and connection; what it raised is kept in `error`."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.work()
        except BaseException as exc:  # the test asserts on it
            self.error = exc
        finally:
            connection.close()

    def ended(self) -> BaseException | None:
        self.join(TIMEOUT)
        assert not self.is_alive(), "the thread did not end"
        return self.error


def waiting_for_a_lock(thread: threading.Thread) -> bool:
    """The thread waits for a lock another transaction holds: PostgreSQL lists an advisory
    lock it has not granted in this database; SQLite's writer waits in `BEGIN IMMEDIATE` (Django's
    `_start_transaction_under_autocommit`)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(WAITING)
            return cursor.fetchone()[0] > 0
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        if frame.f_code.co_name == "_start_transaction_under_autocommit":
            return True
        frame = frame.f_back
    return False


@contextmanager
def held_open(work: Callable[[], Any]) -> Iterator[None]:
    """A transaction doing `work` on a thread, held open until the block ends."""
    done, go = threading.Event(), threading.Event()

    def transaction_held() -> None:
        with transaction.atomic():
            work()
            done.set()
            assert go.wait(TIMEOUT)

    holder = Side(transaction_held)
    holder.start()
    assert done.wait(TIMEOUT), holder.error
    yield
    go.set()
    assert holder.ended() is None


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
