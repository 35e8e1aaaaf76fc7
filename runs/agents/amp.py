"""Sourcegraph Amp CLI adapter, verified against ampcode.com/news/streaming-json (execute mode,
`--stream-json`, `amp threads continue`) and BloopAI/vibe-kanban
`crates/executors/src/executors/amp.rs` (prompt on stdin)."""

from __future__ import annotations

from pathlib import Path

from runs.agents.base import AgentCommand, ClaudeStreamJsonAgent


class AmpAgent(ClaudeStreamJsonAgent):
    """`amp [threads continue <thread_id>] --execute --stream-json --dangerously-allow-all
    [--mode M]`, prompt on stdin. Amp picks models by mode (smart, rush, deep), so the
    profile's model is passed as `--mode`."""

    type = "amp"
    executable = "amp"
    supports_resume = True
    entry_format = "claude"  # its stream JSON is Claude Code's

    def command(self, prompt: str, *, run_dir: Path, session_id: str = "") -> AgentCommand:
        argv = self.base_argv()
        if session_id:
            argv += ["threads", "continue", session_id]
        argv += ["--execute", "--stream-json", "--dangerously-allow-all"]
        if self.model:
            argv += ["--mode", self.model]
        return AgentCommand([*argv, *self.extra_flags], stdin=prompt, env=self.env)
