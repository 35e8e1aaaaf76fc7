"""Two transactions at once, for the tests of what a race between them leaves: one held open
on a thread (`held_open`), the other on a second thread (`Side`), awaited until it waits for
the first's lock (`waiting_for_a_lock`), then the first let go."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction

TIMEOUT = 30.0
WAITING = """SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock'"""


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
    """The thread waits for a lock another transaction holds: PostgreSQL shows a session of
    this database waiting for a lock (a row's or an advisory one); SQLite's writer waits in
    `BEGIN IMMEDIATE` (Django's `_start_transaction_under_autocommit`)."""
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
