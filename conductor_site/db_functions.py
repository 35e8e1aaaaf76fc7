"""Database functions Django lacks, for every backend Conductor runs on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import DateTimeField, ExpressionWrapper, F, Func, IntegerField, JSONField


class OctetLength(Func):
    """A text column's size in bytes (UTF-8), not characters."""

    function = "OCTET_LENGTH"
    output_field = IntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="LENGTH(CAST(%(expressions)s AS BLOB))", **extra
        )


class UtcDateTimeField(DateTimeField):
    """A datetime as the hot lists read it. SQLite hands over Django's stored UTC text (or,
    for a column declared datetime, a naive datetime): it gets its UTC zone here, without
    Django's `make_aware` on top (~3 µs a value, a fifth of a 10,000-task list). PostgreSQL's
    driver gives aware datetimes already."""

    def get_internal_type(self) -> str:
        return "UtcDateTimeField"  # not "DateTimeField": no backend converter on top

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> datetime | None:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utc_datetime(name: str) -> ExpressionWrapper:
    """The datetime field `name` (a lookup path) read through `UtcDateTimeField`."""
    return ExpressionWrapper(F(name), output_field=UtcDateTimeField())


class JsonListsField(JSONField):
    """A JSON column as the hot lists read it: the empty list or object most rows hold is not
    parsed (a `json.loads` per value was a tenth of a 10,000-task list). Both backends hand
    the JSON over as text (Django loads PostgreSQL's jsonb as text)."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value == "[]":
            return []
        if value == "{}":
            return {}
        return super().from_db_value(value, expression, connection)


def json_value(name: str) -> ExpressionWrapper:
    """The JSON field `name` read through `JsonListsField`."""
    return ExpressionWrapper(F(name), output_field=JsonListsField())
