"""OpenCode's `opencode run --format json` (anomalyco/opencode, formerly sst/opencode,
`packages/opencode/src/cli/cmd/run.ts`).

Every event carries `sessionID` and a `part`: `step_start`, `text` (a finished text part),
`reasoning`, `tool_use` (`part.tool`, `part.callID`, `part.state` with `status`, `input`,
`output`, `error` and `metadata.exit` for commands; `run` prints it once the tool completed
or failed), `step_finish` (`part.tokens`, `part.cost`) and `error` (`error.name`,
`error.data.message`). There is no start event: the first event's `sessionID` is the session.
"""

from __future__ import annotations

from typing import Any, ClassVar

from runs.entries.fields import dict_of, int_of, str_of
from runs.entries.normalizer import (
    Normalizer,
    TextKind,
    error_entry,
    text_entry,
    usage_entry,
)
from runs.entries.shapes import Upsert

OPEN_STATUSES = frozenset({"pending", "running"})


class OpencodeNormalizer(Normalizer):
    format = "opencode"
    handlers: ClassVar[dict[str, str]] = {
        "step_start": "on_step_start",
        "text": "on_text",
        "reasoning": "on_text",
        "tool_use": "on_tool_use",
        "step_finish": "on_step_finish",
        "error": "on_error",
    }

    def on_event(self, event: dict[str, Any]) -> list[Upsert] | None:
        name = self.handlers.get(str_of(event.get("type")))
        if name is None:
            return None
        upserts = self.session(str_of(event.get("sessionID")))
        return upserts + getattr(self, name)(event, dict_of(event.get("part")))

    def on_step_start(self, event: dict[str, Any], part: dict[str, Any]) -> list[Upsert]:
        self.stop_growing()
        return []

    def on_text(self, event: dict[str, Any], part: dict[str, Any]) -> list[Upsert]:
        text = str_of(part.get("text"))
        if not text.strip():
            return []
        kind: TextKind = "thinking" if event.get("type") == "reasoning" else "assistant_message"
        return [self.put("part", str_of(part.get("id")), text_entry(kind, text))]

    def on_tool_use(self, event: dict[str, Any], part: dict[str, Any]) -> list[Upsert]:
        state = dict_of(part.get("state"))
        call_id, tool = str_of(part.get("callID")), str_of(part.get("tool"))
        args = dict_of(state.get("input"))
        if str_of(state.get("status")) in OPEN_STATUSES:
            return self.tool_started(call_id, tool, args)
        failed = state.get("status") == "error"
        return self.tool_ended(
            call_id,
            failed=failed,
            output=str_of(state.get("error" if failed else "output")),
            exit_code=int_of(dict_of(state.get("metadata")).get("exit")),
            tool=tool,
            args=args,
        )

    def on_step_finish(self, event: dict[str, Any], part: dict[str, Any]) -> list[Upsert]:
        tokens = dict_of(part.get("tokens"))
        if not tokens and "cost" not in part:
            return []
        cached = dict_of(tokens.get("cache")).get("read")
        entry = usage_entry(tokens.get("input"), tokens.get("output"), cached, part.get("cost"))
        return [self.add(entry)]

    def on_error(self, event: dict[str, Any], part: dict[str, Any]) -> list[Upsert]:
        error = dict_of(event.get("error"))
        message = str_of(dict_of(error.get("data")).get("message")) or str_of(error.get("name"))
        return [self.add(error_entry(message or str_of(event.get("message"))))]
