"""Claude Code's `-p --output-format stream-json --verbose`: one JSON object per line.

`system` (subtype `init`: session id, model), `assistant` (an API message: `text`, `thinking`
and `tool_use` content blocks), `user` (`tool_result` blocks answering a `tool_use` by id, or
a user's text), `result` (the run's end: `is_error`, `usage`, `total_cost_usd`). Amp's
`--stream-json` and Qwen Code's `--output-format stream-json` follow this format ("Claude Code
compatible", ampcode.com/manual; qwen-code `docs/users/features/headless.md`), so they use
this normalizer too; their tools' names are in `tools`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from runs.entries.fields import dict_of, int_of, list_of, str_of
from runs.entries.normalizer import Normalizer, error_entry, text_entry, usage_entry
from runs.entries.shapes import Upsert, Usage, UserMessage


class ClaudeNormalizer(Normalizer):
    format = "claude"
    handlers: ClassVar[dict[str, str]] = {
        "system": "on_system",
        "assistant": "on_assistant",
        "user": "on_user",
        "result": "on_result",
    }

    def __init__(self, first_index: int = 1) -> None:
        super().__init__(first_index)
        self._turns: dict[str, int] = {"input": 0, "output": 0, "cached": 0}
        self._last_message_id = ""

    def on_event(self, event: dict[str, Any]) -> list[Upsert] | None:
        name = self.handlers.get(str_of(event.get("type")))
        return getattr(self, name)(event) if name else None

    def on_system(self, event: dict[str, Any]) -> list[Upsert] | None:
        if event.get("subtype") != "init":
            return None
        return self.session(str_of(event.get("session_id")), str_of(event.get("model")))

    def on_assistant(self, event: dict[str, Any]) -> list[Upsert] | None:
        message = dict_of(event.get("message"))
        content = message.get("content")
        self._count_turn(message)
        if isinstance(content, str):
            return [self.add(text_entry("assistant_message", content))] if content else []
        if not isinstance(content, list):
            return None
        upserts: list[Upsert] = []
        for block in content:
            upserts.extend(self._assistant_block(dict_of(block)))
        return upserts

    def _assistant_block(self, block: dict[str, Any]) -> list[Upsert]:
        kind = block.get("type")
        if kind == "text" and str_of(block.get("text")):
            return [self.add(text_entry("assistant_message", block["text"]))]
        if kind == "thinking" and str_of(block.get("thinking")):
            return [self.add(text_entry("thinking", block["thinking"]))]
        if kind == "tool_use":
            call_id, tool = str_of(block.get("id")), str_of(block.get("name"))
            return self.tool_started(call_id, tool, dict_of(block.get("input")))
        return []

    def on_user(self, event: dict[str, Any]) -> list[Upsert] | None:
        content = dict_of(event.get("message")).get("content")
        if isinstance(content, str):
            return [self.add(UserMessage(type="user_message", text=content))] if content else []
        if not isinstance(content, list):
            return None
        upserts: list[Upsert] = []
        for block in map(dict_of, content):
            if block.get("type") == "tool_result":
                upserts += self.tool_ended(
                    str_of(block.get("tool_use_id")),
                    failed=block.get("is_error") is True,
                    output=result_text(block.get("content")),
                )
            elif block.get("type") == "text" and str_of(block.get("text")):
                upserts.append(self.add(UserMessage(type="user_message", text=block["text"])))
        return upserts

    def on_result(self, event: dict[str, Any]) -> list[Upsert] | None:
        upserts: list[Upsert] = []
        if event.get("is_error") is True or event.get("subtype") not in (None, "success"):
            message = str_of(event.get("result")) or str_of(event.get("subtype"))
            upserts.append(self.add(error_entry(message)))
        usage = dict_of(event.get("usage"))
        if usage or "total_cost_usd" in event:
            upserts.append(self.add(self._usage(usage, event.get("total_cost_usd"))))
        elif any(self._turns.values()):
            turns = self._turns
            upserts.append(self.add(usage_entry(turns["input"], turns["output"], turns["cached"])))
        return upserts

    @staticmethod
    def _usage(usage: dict[str, Any], cost: Any) -> Usage:
        return usage_entry(
            usage.get("input_tokens", usage.get("inputTokens")),
            usage.get("output_tokens", usage.get("outputTokens")),
            usage.get("cache_read_input_tokens", usage.get("cacheReadTokens")),
            cost,
        )

    def _count_turn(self, message: dict[str, Any]) -> None:
        """Adds up each API message's usage once (Claude repeats a message's usage on every
        event of its content blocks), for a `result` that reports none (Amp's)."""
        message_id = str_of(message.get("id"))
        usage = dict_of(message.get("usage"))
        if not usage or (message_id and message_id == self._last_message_id):
            return
        self._last_message_id = message_id
        self._turns["input"] += int_of(usage.get("input_tokens")) or 0
        self._turns["output"] += int_of(usage.get("output_tokens")) or 0
        self._turns["cached"] += int_of(usage.get("cache_read_input_tokens")) or 0


def result_text(content: Any) -> str:
    """A tool result's content: a string, or a list of `text` blocks."""
    if isinstance(content, str):
        return content
    return "\n".join(str_of(dict_of(block).get("text")) for block in list_of(content))
