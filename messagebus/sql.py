"""The append batch's statements, as SQL: the bus lookup, the insert and the naming.

Why SQL and not the ORM: a bus append is the hottest write there is (a swarm of agents
posting, DESIGN.md §8: 2,000 a second), and py-spy put the ORM's building of these few
statements (querysets cloned, compiled, rows turned into models) at 40% of the server's
CPU per append, against a few microseconds each for SQLite or PostgreSQL to run them.
They run on the DB-API cursor under Django's connection, inside its transaction
(`transaction.atomic` still opens and commits it): Django's cursor wrapper, with the
metrics one around it, cost 20 µs a statement here against 3 µs without, and a batch is
four or five statements between its BEGIN and COMMIT. So they are not counted in the
`django_db_execute_total` metric. The text is the
same on both databases but for the placeholders (`%s`; SQLite's `?`) and the one
expression that pads a number, which each spells its own way. `messagebus.services` is
their only caller: it holds the bus lock around them and says why the order is right.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils.dateparse import parse_datetime

from messagebus.models import Message
from projects.models import Project
from tasks.models import Task

MESSAGES = Message._meta.db_table
TASKS = Task._meta.db_table
PROJECTS = Project._meta.db_table
INSERTED = ("msg_id", "project_id", "task_id", "run_id", "type", "body", "parents", "meta")
# The pk as `digits` zero-padded digits, as `format_msg_id` writes it.
PADDED_ID = {
    "postgresql": "lpad(id::text, {digits}, '0')",
    "sqlite": "substr('{zeros}' || id, -{digits})",
}


def task_pks(keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The pk of each (project_id, task_id) whose task exists, in one statement."""
    if not keys:
        return {}
    where = " OR ".join(["(project_id = %s AND task_id = %s)"] * len(keys))
    params = [value for key in keys for value in key]
    rows = _execute(f"SELECT project_id, task_id, id FROM {TASKS} WHERE {where}", params)
    return {(project_id, task_id): pk for project_id, task_id, pk in rows.fetchall()}


def projects_existing(project_ids: list[str]) -> set[str]:
    """Those of `project_ids` that exist, in one statement."""
    if not project_ids:
        return set()
    marks = ", ".join(["%s"] * len(project_ids))
    rows = _execute(f"SELECT id FROM {PROJECTS} WHERE id IN ({marks})", project_ids)
    return {project_id for (project_id,) in rows.fetchall()}


def newest(buses: list[tuple[str, int | None]]) -> tuple[datetime | None, list[str | None]]:
    """In one statement: the time of the newest message of any bus, and the newest msg_id
    of each bus named, (project_id, None) meaning the whole project (all its buses) and
    (project_id, task_pk) one task's; None where there is none."""
    last = f"(SELECT {{}} FROM {MESSAGES} {{}}ORDER BY id DESC LIMIT 1)"
    selects = [last.format("created_at", "")]
    params: list[Any] = []
    for project_id, task_pk in buses:
        if task_pk is None:
            selects.append(last.format("msg_id", "WHERE project_id = %s "))
            params.append(project_id)
        else:
            selects.append(last.format("msg_id", "WHERE project_id = %s AND task_id = %s "))
            params += [project_id, task_pk]
    at, *msg_ids = _execute(f"SELECT {', '.join(selects)}", params).fetchone()
    return (_utc(at) if at is not None else None), msg_ids


def rows_insert(rows: list[tuple[Any, ...]], created_at: datetime) -> list[int]:
    """Insert rows of `INSERTED`'s columns, each with a distinct placeholder msg_id, in one
    statement; their pks, in the rows' order."""
    columns = ", ".join((*INSERTED, "created_at"))
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    at = connection.ops.adapt_datetimefield_value(created_at)
    params = [value for row in rows for value in (*row, at)]
    sql = f"INSERT INTO {MESSAGES} ({columns}) VALUES {values} RETURNING id, msg_id"
    pks = {msg_id: pk for pk, msg_id in _execute(sql, params).fetchall()}
    return [pks[row[0]] for row in rows]  # RETURNING's order is not promised: by msg_id


def msg_ids_set(pks: list[int], prefix: str, digits: int) -> None:
    """Each row's msg_id becomes `prefix` + its pk zero-padded to `digits` digits."""
    padded = PADDED_ID[connection.vendor].format(digits=digits, zeros="0" * digits)
    marks = ", ".join(["%s"] * len(pks))
    sql = f"UPDATE {MESSAGES} SET msg_id = %s || {padded} WHERE id IN ({marks})"
    _execute(sql, [prefix, *pks])


def json_value(value: Any) -> Any:
    """A JSON column's parameter, as the ORM's JSONField writes it."""
    return connection.ops.adapt_json_value(value, None)


def _execute(sql: str, params: Any) -> Any:
    """The statement run on the DB-API cursor of this thread's connection; its errors are
    Django's (`IntegrityError`, ...), as through Django's cursor."""
    db = connections[DEFAULT_DB_ALIAS]  # `connection` looks this up on each use
    db.ensure_connection()
    with db.wrap_database_errors:
        cursor = db.connection.cursor()
        cursor.execute(_placeholders(sql, db.vendor), params)
    return cursor


@lru_cache(maxsize=2048)  # a few statements, each in a text per batch size
def _placeholders(sql: str, vendor: str) -> str:
    return sql.replace("%s", "?") if vendor == "sqlite" else sql


def _utc(value: datetime | str) -> datetime:
    """A stored time as an aware UTC datetime (SQLite hands back its text, naive UTC)."""
    at = value if isinstance(value, datetime) else parse_datetime(value)
    if at is None:
        raise ValueError(f"not a stored time: {value!r}")
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
