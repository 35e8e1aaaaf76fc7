"""Database functions Django lacks, for every backend Conductor runs on."""

from __future__ import annotations

from typing import Any

from django.db.models import Func, IntegerField


class OctetLength(Func):
    """A text column's size in bytes (UTF-8), not characters."""

    function = "OCTET_LENGTH"
    output_field = IntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="LENGTH(CAST(%(expressions)s AS BLOB))", **extra
        )
