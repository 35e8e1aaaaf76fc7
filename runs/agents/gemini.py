"""Google Gemini CLI adapter, verified against google-gemini/gemini-cli `docs/cli/headless.md`,
`docs/cli/cli-reference.md` and `docs/cli/session-management.md` (resume by session UUID)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runs.agents.base import Agent, AgentCommand, first_json_value, json_lines


class GeminiAgent(Agent):
    """`gemini --output-format stream-json --approval-mode yolo --prompt=<prompt> [--model M]
    [--resume <session_id>]`; the `=` form keeps a prompt that starts with `-` a value."""

    type = "gemini"
    executable = "gemini"
    supports_resume = True
    entry_format = "gemini"

    def command(self, prompt: str, *, run_dir: Path, session_id: str = "") -> AgentCommand:
        argv = [
            *self.base_argv(),
            "--output-format",
            "stream-json",
            "--approval-mode",
            "yolo",
            f"--prompt={prompt}",
        ]
        if self.model:
            argv += ["--model", self.model]
        if session_id:
            argv += ["--resume", session_id]
        return AgentCommand([*argv, *self.extra_flags], env=self.env)

    def session_id(self, stdout_head: str) -> str:
        return first_json_value(stdout_head, "session_id", type="init")

    def final_message(self, stdout_tail: str) -> str:
        """The last assistant turn: its `message` chunks joined, a turn ending at a tool call or
        a user message."""
        turn: list[str] = []
        in_turn = False
        for event in json_lines(stdout_tail):
            if _is_assistant_text(event):
                if not in_turn:
                    turn, in_turn = [], True
                turn.append(event["content"])
            elif event.get("type") in _TURN_BREAKS:
                in_turn = False
        return "".join(turn).strip()


_TURN_BREAKS = frozenset({"message", "tool_use", "tool_result"})


def _is_assistant_text(event: dict[str, Any]) -> bool:
    return (
        event.get("type") == "message"
        and event.get("role") == "assistant"
        and isinstance(event.get("content"), str)
    )
