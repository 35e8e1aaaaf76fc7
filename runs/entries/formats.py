"""The normalizer of each output format, by name, and `auto`: the format told by the output.

An agent adapter names its format (`Agent.entry_format`). A `custom` agent (any CLI) and a
`shell` script name `auto`: the first JSON object on stdout that looks like one of the
formats decides, and every line after it goes to that format's normalizer; lines before it,
and all lines if none ever does, are raw entries.
"""

from __future__ import annotations

from typing import Any

from runs.entries.claude import ClaudeNormalizer
from runs.entries.codex import CodexNormalizer
from runs.entries.cursor import CursorNormalizer
from runs.entries.fields import parse_event, str_of
from runs.entries.gemini import GeminiNormalizer
from runs.entries.normalizer import Normalizer
from runs.entries.opencode import OpencodeNormalizer
from runs.entries.shapes import Upsert

FORMATS: dict[str, type[Normalizer]] = {
    cls.format: cls
    for cls in (
        Normalizer,
        ClaudeNormalizer,
        CodexNormalizer,
        GeminiNormalizer,
        CursorNormalizer,
        OpencodeNormalizer,
    )
}
OPENCODE_EVENTS = frozenset(OpencodeNormalizer.handlers)


class AutoNormalizer(Normalizer):
    """Raw lines until one tells the format, then that format's normalizer."""

    format = "auto"

    def __init__(self, first_index: int = 1) -> None:
        super().__init__(first_index)
        self._found: Normalizer | None = None

    @property
    def detected(self) -> str:
        return self._found.format if self._found is not None else "raw"

    def feed_line(self, stream: str, line: str) -> list[Upsert]:
        if self._found is not None:
            return self._found.feed_line(stream, line)
        event = parse_event(line) if stream == "stdout" else None
        cls = FORMATS.get(format_of(event)) if event is not None else None
        if cls is None:
            return super().feed_line(stream, line)
        self._found = cls(first_index=self.next_index)
        return self._found.feed_line(stream, line)


def format_of(event: dict[str, Any]) -> str:
    """The format an output's JSON object belongs to, '' when it does not tell."""
    kind = str_of(event.get("type"))
    if kind in ("thread.started", "turn.started") or kind.startswith("item."):
        return "codex"
    if kind == "init" and "session_id" in event:
        return "gemini"
    if "sessionID" in event and kind in OPENCODE_EVENTS:
        return "opencode"
    if kind == "system" and event.get("subtype") == "init":
        return "cursor" if "tools" not in event and "apiKeySource" in event else "claude"
    if kind in ("assistant", "user", "result") and "session_id" in event:
        return "claude"
    return ""


def normalizer(name: str) -> Normalizer:
    """A fresh normalizer of the format `name` (`auto` for one the output tells)."""
    if name == AutoNormalizer.format:
        return AutoNormalizer()
    return FORMATS.get(name, Normalizer)()
