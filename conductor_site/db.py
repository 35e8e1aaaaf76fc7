"""The database connection a thread holds, given back before it waits.

In production each thread's Django connection comes from the process's psycopg pool and goes
back to it on `connection.close()`; the next query takes one again (a check and no new
PostgreSQL session). A worker's threads wait for minutes: on an agent, between log flushes,
between heartbeats. Holding a connection through those waits made a worker need one
PostgreSQL connection per concurrent run, so each thread gives its connection back first.
Embedded mode has no pool: a SQLite connection costs nobody anything, and closing it would
only reopen the file on the next query, so it is kept.
"""

from __future__ import annotations

from django.db import connection


def connection_release() -> None:
    """Give this thread's connection back to the pool, unless there is no pool or a
    transaction is open (closing would roll it back)."""
    if not connection.settings_dict.get("OPTIONS", {}).get("pool"):
        return
    if connection.in_atomic_block:
        return
    connection.close()
