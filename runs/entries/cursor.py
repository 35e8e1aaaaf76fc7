"""Cursor CLI's `-p --output-format stream-json` (cursor.com/docs/cli/reference/output-format).

Claude Code's `system`, `user`, `assistant` and `result` events, plus its own: `thinking`
(subtype `delta` pieces of text, then `completed`) and `tool_call` (subtype `started`, then
`completed` with the same `call_id`), whose `tool_call` object has one key naming the tool
(`shellToolCall`, `editToolCall`, `readToolCall`, ...; `function` for others) holding its
`args` and, once completed, its `result` (`success` or a failure).
"""

from __future__ import annotations

from typing import Any, ClassVar

from runs.entries.claude import ClaudeNormalizer
from runs.entries.fields import dict_of, int_of, parse_event, str_of
from runs.entries.shapes import Upsert


class CursorNormalizer(ClaudeNormalizer):
    format = "cursor"
    handlers: ClassVar[dict[str, str]] = {
        **ClaudeNormalizer.handlers,
        "thinking": "on_thinking",
        "tool_call": "on_tool_call",
    }

    def on_thinking(self, event: dict[str, Any]) -> list[Upsert] | None:
        if event.get("subtype") == "completed":
            self.stop_growing()
            return []
        if event.get("subtype") == "delta":
            piece = str_of(event.get("text"))
            return [self.grow("thinking", piece)] if piece else []
        return None

    def on_tool_call(self, event: dict[str, Any]) -> list[Upsert] | None:
        call_id = str_of(event.get("call_id"))
        tool, body = tool_of(dict_of(event.get("tool_call")))
        args = dict_of(body.get("args"))
        if event.get("subtype") == "started":
            return self.tool_started(call_id, tool, args)
        if event.get("subtype") != "completed":
            return None
        result = dict_of(body.get("result"))
        outcome = dict_of(result.get("success"))
        failed = "success" not in result
        if failed:
            outcome = next((dict_of(value) for value in result.values()), {})
        return self.tool_ended(
            call_id,
            failed=failed,
            output=output_of(outcome),
            exit_code=int_of(outcome.get("exitCode")),
            tool=tool,
            args=args,
        )


def tool_of(call: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(`shell`, body) from `{"shellToolCall": body}`; (its name, body) from `{"function":
    {"name", "arguments"}}`."""
    for key, body in call.items():
        if key == "function":
            function = dict_of(body)
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                arguments = parse_event(arguments)
            return str_of(function.get("name")), {"args": arguments}
        return key.removesuffix("ToolCall"), dict_of(body)
    return "", {}


def output_of(outcome: dict[str, Any]) -> str:
    """What a tool call gave back: a command's output, a file's content, an edit's diff."""
    if "stdout" in outcome or "stderr" in outcome:
        return str_of(outcome.get("stdout")) + str_of(outcome.get("stderr"))
    for key in ("content", "diffString", "message", "error"):
        if str_of(outcome.get(key)):
            return str_of(outcome[key])
    return ""
