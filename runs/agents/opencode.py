"""opencode adapter, verified against anomalyco/opencode (formerly sst/opencode)
`packages/opencode/src/cli/cmd/run.ts`: `run [message..]`, piped stdin read as the message,
`--format json` events that each carry `sessionID`."""

from __future__ import annotations

from pathlib import Path

from runs.agents.base import Agent, AgentCommand, first_json_value, json_lines


class OpencodeAgent(Agent):
    """`opencode run --format json [--model provider/model] [--session <session_id>]`,
    prompt on stdin."""

    type = "opencode"
    executable = "opencode"
    supports_resume = True
    entry_format = "opencode"

    def command(self, prompt: str, *, run_dir: Path, session_id: str = "") -> AgentCommand:
        argv = [*self.base_argv(), "run", "--format", "json"]
        if self.model:
            argv += ["--model", self.model]
        if session_id:
            argv += ["--session", session_id]
        return AgentCommand([*argv, *self.extra_flags], stdin=prompt, env=self.env)

    def session_id(self, stdout_head: str) -> str:
        return first_json_value(stdout_head, "sessionID")

    def final_message(self, stdout_tail: str) -> str:
        found = ""
        for event in json_lines(stdout_tail):
            part = event.get("part")
            if event.get("type") == "text" and isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str) and text.strip():
                    found = text
        return found.strip()
