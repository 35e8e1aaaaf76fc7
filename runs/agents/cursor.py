"""Cursor CLI adapter, verified against cursor.com/docs/cli/reference/output-format and
/docs/cli/headless, and BloopAI/vibe-kanban `crates/executors/src/executors/cursor.rs`
(prompt piped on stdin)."""

from __future__ import annotations

from pathlib import Path

from runs.agents.base import AgentCommand, ClaudeStreamJsonAgent


class CursorAgent(ClaudeStreamJsonAgent):
    """`cursor-agent -p --output-format stream-json --force [--model M]
    [--resume <chat_id>]`, prompt on stdin."""

    type = "cursor"
    executable = "cursor-agent"
    supports_resume = True
    entry_format = "cursor"

    def command(self, prompt: str, *, run_dir: Path, session_id: str = "") -> AgentCommand:
        argv = [*self.base_argv(), "-p", "--output-format", "stream-json", "--force"]
        if self.model:
            argv += ["--model", self.model]
        if session_id:
            argv += ["--resume", session_id]
        return AgentCommand([*argv, *self.extra_flags], stdin=prompt, env=self.env)
