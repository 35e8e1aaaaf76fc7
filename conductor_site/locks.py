"""The transaction-scoped advisory locks that serialize writers across processes, in one
place so every app takes them the same way and in the same order.

- `EVENTS`: every event-log write (`conductor_site.live.history.record`): the log's ids are
  its order.
- `BUS`: every bus append (`messagebus.services.append_lock`) and every delete of a
  project or task (their messages go with them).

Where a transaction takes both, `EVENTS` comes first, everywhere: two transactions taking
them in opposite orders would deadlock on PostgreSQL. SQLite has one writer at a time
already: there they are no-ops. Taken again in the same transaction, a lock is held already.
"""

from __future__ import annotations

from django.db import connection

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
