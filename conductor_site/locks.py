"""The transaction-scoped advisory locks that serialize writers across processes, in one
place so every app takes them the same way and in the same order.

- `EVENTS`: every event-log write (`conductor_site.live.history.record`): the log's ids are
  its order.
- `BUS`: every bus append (`messagebus.services.append_lock`) and every delete of a
  project or task (their messages go with them).

Where a transaction takes both, `EVENTS` comes first, everywhere: two transactions taking
them in opposite orders would deadlock on PostgreSQL. SQLite has one writer at a time
already: there they are no-ops. Taken again in the same transaction, a lock is held already.

Rows a change holds for its transaction (an attempt, a task, and every attempt and task a
delete removes) are locked with `row_lock`, before the event log's lock and the bus's.
"""

from __future__ import annotations

from typing import TypeVar

from django.db import connection
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)

EVENTS = 0x636F6E646576  # "condev"
BUS = 0x636F6E64627573  # "condbus"


def xact_lock(key: int) -> None:
    """Held until the transaction ends (PostgreSQL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def delete_lock() -> None:
    """Before a project's or task's delete collects its rows: an append that committed after
    the collection would leave a message pointing at the deleted task (its commit's foreign
    key check fails, a 500). Appends wait, then find their bus gone and make it again."""
    xact_lock(EVENTS)
    xact_lock(BUS)


def row_lock(rows: QuerySet[M]) -> QuerySet[M]:
    """`rows` locked until the transaction ends, as an UPDATE of them locks them: FOR NO KEY
    UPDATE on PostgreSQL (SQLite: nothing, the transaction holds the database). Not FOR
    UPDATE: that lock also waits for the foreign-key checks that rows pointing at these make
    at their commit (`FOR KEY SHARE`), and an append checks its task's row while it holds the
    bus's lock, which a delete holding its task takes next: the two deadlocked."""
    return rows.select_for_update(no_key=True)
