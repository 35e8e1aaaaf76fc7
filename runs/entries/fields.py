"""Reading an agent's JSON lines defensively: every accessor answers a value of the type it
promises, whatever the line held, so a normalizer never trips on an odd event; every text an
entry holds is clipped to `MAX_TEXT` characters (the log keeps the whole line)."""

from __future__ import annotations

import json
from typing import Any

MAX_TEXT = 64 * 1024  # characters of one text in one entry


def parse_event(line: str) -> dict[str, Any] | None:
    """The JSON object a line holds, or `None` (not JSON, truncated, nested too deep, a
    number too long, NaN or Infinity: the API's strict JSON could not send those back)."""
    line = line.strip()
    if not (line.startswith("{") and line.endswith("}")):
        return None
    try:
        value = _DECODER.decode(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant
)  # one for all: `loads` makes one per call


def clip(text: str, limit: int = MAX_TEXT) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[conductor: {len(text) - limit} more characters not shown]"


def str_of(value: Any) -> str:
    """A string field: a string as it is, anything else (absent, null, a number) as ''."""
    return value if isinstance(value, str) else ""


def dict_of(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def list_of(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def int_of(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def float_of(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
