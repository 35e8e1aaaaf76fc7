"""Reading JSON request bodies: one set of bounds, for DRF views and for middleware.

Python's `json` recurses once per level, so a body of a few thousand `[` raises
`RecursionError` (not a `ValueError`), and one just shallow enough to parse can still blow the
stack later, when the audit log or the database encodes it again deeper in a call chain. And
PostgreSQL takes no NUL (`\\u0000`) in a text or JSON column, so a NUL anywhere in a body (a
message's `meta`, a task's `config`) failed the insert. So every body is refused past
`JSON_DEPTH_MAX` levels or with a NUL in any string, at the one place it is decoded: DRF's
parser (`JSONParser`, in `DEFAULT_PARSER_CLASSES`) and `json_loads` for code that reads
`request.body` itself.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant

JSON_DEPTH_MAX = 100  # far beyond any real request; far below Python's recursion limit


class JsonTooDeep(ValueError):
    def __init__(self) -> None:
        super().__init__(f"nested deeper than {JSON_DEPTH_MAX} levels")


class JsonNul(ValueError):
    def __init__(self) -> None:
        super().__init__("a string holds NUL (\\u0000), which the database cannot store")


def checked(value: Any) -> Any:
    """`value`, unless its arrays and objects nest deeper than `JSON_DEPTH_MAX` or one of its
    strings (keys too) holds NUL. Iterative: checking must not recurse either."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                raise JsonNul()
            continue
        if depth >= JSON_DEPTH_MAX:
            raise JsonTooDeep()
        children = [*node, *node.values()] if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, str | dict | list))
    return value


def json_loads(raw: bytes | str) -> Any:
    """`json.loads` (without NaN or Infinity) that fails only with `ValueError`, as
    `JsonTooDeep` or `JsonNul` past the bounds."""
    try:
        value = json.loads(raw, parse_constant=strict_constant)
    except RecursionError:
        raise JsonTooDeep() from None
    return checked(value) if isinstance(value, str | dict | list) else value


class JSONParser(parsers.JSONParser):
    """DRF's parser on `json_loads`: a body too deep or holding a NUL is a 400, not a 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json_loads(stream.read().decode(encoding))
        except ValueError as exc:  # UnicodeDecodeError is one too
            raise ParseError(f"JSON parse error - {exc}") from None
