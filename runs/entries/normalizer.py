"""What every normalizer shares: turning lines into numbered entries, and the raw fallback.

A `Normalizer` is stateful per run. Fed a run's output lines in order, it returns upserts
`(index, entry)`; indexes count from 1. An entry that changes later (a tool call that
finishes, text that streams in pieces) is returned again under the index it first had. The
base class recognises nothing: every non-blank line is a `raw` entry. A format's subclass
recognises its events in `on_event` and returns `None` for one it does not know, which then
falls back to `raw` too, as does a line that is not a JSON object, is truncated, or holds
a value JSON's strict form refuses (NaN). Nothing a line says raises.

Memory stays bounded whatever the agent prints: only the last `KEPT_ENTRIES` entries that
can still change (open tool calls, items by id) are remembered, and every text an entry
holds is clipped to `MAX_TEXT` characters (the log keeps the whole line).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from runs.entries import tools
from runs.entries.fields import MAX_TEXT, clip, float_of, int_of, parse_event
from runs.entries.shapes import (
    AssistantMessage,
    Entry,
    Error,
    Raw,
    Session,
    Thinking,
    Upsert,
    Usage,
)

KEPT_ENTRIES = 1024  # entries that may still change, remembered by key

TextKind = Literal["assistant_message", "thinking"]


class Normalizer:
    """The `raw` format, and the base of every other: subclasses override `on_event`."""

    format: ClassVar[str] = "raw"

    def __init__(self, first_index: int = 1) -> None:
        self._next = first_index
        self._keyed: OrderedDict[str, tuple[int, Entry]] = OrderedDict()
        self._growing: _Growing | None = None  # the text entry still streaming in
        self._session = ""

    @property
    def detected(self) -> str:
        """The format this normalizer reads (`auto` says which one it found)."""
        return self.format

    @property
    def next_index(self) -> int:
        return self._next

    def feed(self, stream: str, text: str) -> list[Upsert]:
        """The upserts for `text`, complete lines of `stream` (a LogChunk's text). Lines end
        at `\n` only: Node's JSON.stringify leaves U+2028 and U+2029 unescaped in strings,
        which `str.splitlines` would cut."""
        upserts: list[Upsert] = []
        for line in text.split("\n"):
            upserts.extend(self.feed_line(stream, line))
        return upserts

    def feed_line(self, stream: str, line: str) -> list[Upsert]:
        if stream == "stdout":
            event = parse_event(line)
            if event is not None:
                upserts = self._recognised(event)
                if upserts is not None:
                    return upserts
        if not line.strip():
            return []
        text = clip(line.removesuffix("\r"))  # a CRLF line, as Windows-minded tools print
        return [self.add(Raw(type="raw", stream=stream, text=text))]

    def on_event(self, event: dict[str, Any]) -> list[Upsert] | None:
        """The upserts for one JSON object of the agent's output; `None`: not recognised."""
        return None

    def _recognised(self, event: dict[str, Any]) -> list[Upsert] | None:
        """`on_event`, with a JSON event of an unexpected shape (a list where a string was
        expected) answered as unrecognised: `runs.entries.fields` makes this rare, and an agent's
        odd line must never stop the conversation."""
        try:
            return self.on_event(event)
        except (TypeError, ValueError, AttributeError, KeyError):
            return None

    def add(self, entry: Entry) -> Upsert:
        """A new entry at the next index."""
        self._growing = None
        index = self._next
        self._next += 1
        return index, entry

    def put(self, space: str, ident: str, entry: Entry) -> Upsert:
        """The entry known by `ident` in `space` (a tool call's id, an item's id): at its index
        if it was seen, else at the next one. Without an id it can only be a new entry."""
        if not ident:
            return self.add(entry)
        key = f"{space}:{ident}"
        known = self._keyed.pop(key, None)
        index = known[0] if known is not None else self.add(entry)[0]
        self._keyed[key] = (index, entry)
        if len(self._keyed) > KEPT_ENTRIES:
            self._keyed.popitem(last=False)
        return index, entry

    def known(self, space: str, ident: str) -> Entry | None:
        found = self._keyed.get(f"{space}:{ident}") if ident else None
        return found[1] if found is not None else None

    def grow(self, kind: TextKind, piece: str) -> Upsert:
        """Text that arrives in pieces (`assistant_message` or `thinking` deltas): appended to
        the entry of that kind being streamed, or a new one if something else came between."""
        growing = self._growing
        if growing is None or growing.kind != kind:
            index = self.add(text_entry(kind, ""))[0]
            growing = self._growing = _Growing(kind, index)
        growing.append(piece)
        return growing.index, text_entry(kind, growing.shown())

    def stop_growing(self) -> None:
        self._growing = None

    def tool_started(self, call_id: str, tool: str, args: dict[str, Any]) -> list[Upsert]:
        """A tool call asked for: `pending`, or a `plan` entry for a todo tool."""
        if tools.is_plan(tool):
            return [self.put("tool", call_id, tools.plan(args.get("todos")))]
        return [self.put("tool", call_id, tools.tool_use(tool, call_id, args))]

    def tool_ended(
        self,
        call_id: str,
        *,
        failed: bool,
        output: str,
        exit_code: int | None = None,
        tool: str = "",
        args: dict[str, Any] | None = None,
    ) -> list[Upsert]:
        """A tool call's result, under the index of its start; a result whose start was not
        seen (`tool` and `args` then say what it was) gets an entry of its own."""
        call = self.known("tool", call_id)
        if call is None:
            if tools.is_plan(tool):
                return self.tool_started(call_id, tool, args or {})
            call = tools.tool_use(tool, call_id, args or {})
        if call["type"] != "tool_use":
            return []  # a todo tool's acknowledgement: its plan entry says it all
        ended = tools.tool_finished(call, failed=failed, output=output, exit_code=exit_code)
        return [self.put("tool", call_id, ended)]

    def session(self, session_id: str, model: str = "") -> list[Upsert]:
        """A `session` entry the first time a session id is seen."""
        if not session_id or session_id == self._session:
            return []
        self._session = session_id
        return [self.add(Session(type="session", session_id=clip(session_id), model=clip(model)))]


@dataclass
class _Growing:
    """Streamed text, kept up to `MAX_TEXT` characters; the rest only counted."""

    kind: TextKind
    index: int
    text: str = ""
    dropped: int = 0

    def append(self, piece: str) -> None:
        room = MAX_TEXT - len(self.text)
        self.text += piece[:room]
        self.dropped += max(0, len(piece) - room)

    def shown(self) -> str:
        if not self.dropped:
            return self.text
        return f"{self.text}\n[conductor: {self.dropped} more characters not shown]"


def text_entry(kind: TextKind, text: str) -> AssistantMessage | Thinking:
    if kind == "thinking":
        return Thinking(type="thinking", text=text)
    return AssistantMessage(type="assistant_message", text=text)


def error_entry(message: str) -> Error:
    return Error(type="error", message=clip(message) or "error")


def usage_entry(
    input_tokens: Any, output_tokens: Any, cached: Any = None, cost: Any = None
) -> Usage:
    return Usage(
        type="usage",
        input_tokens=int_of(input_tokens),
        output_tokens=int_of(output_tokens),
        cached_input_tokens=int_of(cached),
        cost_usd=float_of(cost),
    )
