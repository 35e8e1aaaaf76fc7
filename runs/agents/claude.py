from __future__ import annotations

from pathlib import Path

from runs.agents.base import AgentCommand, ClaudeStreamJsonAgent


class ClaudeAgent(ClaudeStreamJsonAgent):
    """Claude Code, headless: `claude -p --output-format stream-json --verbose`, prompt on
    stdin; `--resume <session_id>` continues a session."""

    type = "claude"
    executable = "claude"
    supports_resume = True
    entry_format = "claude"

    def command(self, prompt: str, *, run_dir: Path, session_id: str = "") -> AgentCommand:
        argv = [
            *self.base_argv(),
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--dangerously-skip-permissions",
        ]
        if self.model:
            argv += ["--model", self.model]
        if session_id:
            argv += ["--resume", session_id]
        return AgentCommand([*argv, *self.extra_flags], stdin=prompt, env=self.env)
