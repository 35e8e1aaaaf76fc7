"""Reading JSON request bodies: one bound on nesting, for DRF views and for middleware.

Python's `json` recurses once per level, so a body of a few thousand `[` raises
`RecursionError` (not a `ValueError`), and one just shallow enough to parse can still blow the
stack later, when the audit log or the database encodes it again deeper in a call chain. So
every body is refused past `JSON_DEPTH_MAX` levels, at the one place it is decoded: DRF's
parser (`JSONParser`, in `DEFAULT_PARSER_CLASSES`) and `json_loads` for code that reads
`request.body` itself.
"""

from __future__ import annotations

import json
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

JSON_DEPTH_MAX = 100  # far beyond any real request; far below Python's recursion limit


class JsonTooDeep(ValueError):
    def __init__(self) -> None:
        super().__init__(f"nested deeper than {JSON_DEPTH_MAX} levels")


def depth_checked(value: Any) -> Any:
    """`value`, unless its arrays and objects nest deeper than `JSON_DEPTH_MAX` (iteratively:
    checking must not recurse either)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth >= JSON_DEPTH_MAX:
            raise JsonTooDeep()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return value


def json_loads(raw: bytes | str) -> Any:
    """`json.loads` that fails only with `ValueError` (`JsonTooDeep` past the bound)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JsonTooDeep() from None
    return depth_checked(value) if isinstance(value, dict | list) else value


class JSONParser(parsers.JSONParser):
    """DRF's parser, with the nesting bound: a too-deep body is a 400, never a 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            value = super().parse(stream, media_type, parser_context)
            return depth_checked(value) if isinstance(value, dict | list) else value
        except (RecursionError, JsonTooDeep):
            raise ParseError(f"JSON parse error - {JsonTooDeep()}") from None
