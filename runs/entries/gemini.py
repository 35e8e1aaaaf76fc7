"""Gemini CLI's `--output-format stream-json` (google-gemini/gemini-cli `docs/cli/headless.md`).

`init` (session id, model), `message` (`role` user or assistant; assistant text arrives in
`delta` pieces, joined into one entry until something else comes), `tool_use` (`tool_name`,
`tool_id`, `parameters`), `tool_result` (`tool_id`, `status` success or error, `output`,
`error`), `error` (a warning or an error) and `result` (`status`, `stats` with token counts).
The format has no thinking events.
"""

from __future__ import annotations

from typing import Any

from runs.entries.fields import dict_of, str_of
from runs.entries.normalizer import Normalizer, error_entry, text_entry, usage_entry
from runs.entries.shapes import Upsert, UserMessage


class GeminiNormalizer(Normalizer):
    format = "gemini"

    def on_event(self, event: dict[str, Any]) -> list[Upsert] | None:
        kind = str_of(event.get("type"))
        if kind == "init":
            return self.session(str_of(event.get("session_id")), str_of(event.get("model")))
        if kind == "message":
            return self.on_message(event)
        if kind == "tool_use":
            call_id, tool = str_of(event.get("tool_id")), str_of(event.get("tool_name"))
            return self.tool_started(call_id, tool, dict_of(event.get("parameters")))
        if kind == "tool_result":
            error = str_of(dict_of(event.get("error")).get("message"))
            return self.tool_ended(
                str_of(event.get("tool_id")),
                failed=event.get("status") != "success",
                output=str_of(event.get("output")) or error,
            )
        if kind == "error":
            return [self.add(error_entry(str_of(event.get("message"))))]
        if kind == "result":
            return self.on_result(event)
        return None

    def on_message(self, event: dict[str, Any]) -> list[Upsert] | None:
        content, role = str_of(event.get("content")), event.get("role")
        if role == "user":
            return [self.add(UserMessage(type="user_message", text=content))] if content else []
        if role != "assistant":
            return None
        if event.get("delta") is True:
            return [self.grow("assistant_message", content)]
        return [self.add(text_entry("assistant_message", content))] if content else []

    def on_result(self, event: dict[str, Any]) -> list[Upsert]:
        upserts: list[Upsert] = []
        if event.get("status") == "error":
            message = str_of(dict_of(event.get("error")).get("message"))
            upserts.append(self.add(error_entry(message)))
        stats = dict_of(event.get("stats"))
        if stats:
            entry = usage_entry(
                stats.get("input_tokens"), stats.get("output_tokens"), stats.get("cached")
            )
            upserts.append(self.add(entry))
        return upserts
