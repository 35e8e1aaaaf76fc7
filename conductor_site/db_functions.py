"""Database functions Django lacks, for every backend Conductor runs on."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import ExpressionWrapper, F, Func, IntegerField, JSONField, TextField


class OctetLength(Func):
    """A text column's size in bytes (UTF-8), not characters."""

    function = "OCTET_LENGTH"
    output_field = IntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="LENGTH(CAST(%(expressions)s AS BLOB))", **extra
        )


class UtcText(Func):
    """A datetime column as UTC text, `YYYY-MM-DD HH:MM:SS[.ffffff]`, for the hot lists: the
    form Django stores on SQLite (so nothing is parsed; `runs.selectors.rfc3339` turns it into
    the API's form with two string operations) and one that sorts like the time itself.
    Building a datetime per value (the driver's parse, then the time zone) was ~40% of a
    10,000-task list. On SQLite the CAST hides the column's declared type, which would have
    the driver parse it anyway."""

    output_field = TextField()

    def _as_vendor_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = utc_text_sql("%(expressions)s", connection.vendor)
        return self.as_sql(compiler, connection, template=template, **extra)

    as_sqlite = as_postgresql = _as_vendor_sql


def utc_text_sql(column: str, vendor: str) -> str:
    """`UtcText` of `column` (SQL) in the dialect of `vendor` (`connection.vendor`): its one
    definition, for the ORM's expression and the lists' raw SQL (`tasks.list_sql`)."""
    if vendor == "postgresql":
        text = f"TO_CHAR({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
        return f"REGEXP_REPLACE({text}, '\\.000000$', '')"
    return f"CAST({column} AS TEXT)"


def utc_text(name: str) -> UtcText:
    """The datetime field `name` (a lookup path) read as `UtcText`."""
    return UtcText(F(name))


class JsonListsField(JSONField):
    """A JSON column as the hot lists read it (`json_text_value`)."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return json_text_value(value)


def json_value(name: str) -> ExpressionWrapper:
    """The JSON field `name` read through `JsonListsField`."""
    return ExpressionWrapper(F(name), output_field=JsonListsField())


def json_text_value(value: str | None) -> Any:
    """A JSON column's value from its text, as Django's `JSONField` reads it (text that is not
    JSON stays text), except that the empty list or object most rows hold is not parsed (a
    `json.loads` per value was a tenth of a 10,000-task list). Both backends hand the JSON
    over as text (Django loads PostgreSQL's jsonb as text), to the ORM and to raw SQL."""
    if value is None:
        return None
    if value == "[]":
        return []
    if value == "{}":
        return {}
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value
