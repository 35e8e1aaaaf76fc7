"""Qwen Code adapter, verified against QwenLM/qwen-code `docs/users/features/headless.md`."""

from __future__ import annotations

from pathlib import Path

from runs.agents.base import AgentCommand, ClaudeStreamJsonAgent


class QwenAgent(ClaudeStreamJsonAgent):
    """`qwen --output-format stream-json --yolo --prompt=<prompt> [--model M]
    [--resume <session_id>]`; the `=` form keeps a prompt that starts with `-` a value."""

    type = "qwen"
    executable = "qwen"
    supports_resume = True
    entry_format = "claude"  # its stream JSON is Claude Code's

    def command(self, prompt: str, *, run_dir: Path, session_id: str = "") -> AgentCommand:
        argv = [*self.base_argv(), "--output-format", "stream-json", "--yolo", f"--prompt={prompt}"]
        if self.model:
            argv += ["--model", self.model]
        if session_id:
            argv += ["--resume", session_id]
        return AgentCommand([*argv, *self.extra_flags], env=self.env)
