from __future__ import annotations

from pathlib import Path

from projects import storage
from runs.agents.base import Agent, AgentCommand


class ShellAgent(Agent):
    """The prompt is a bash script, run in the working directory. Works everywhere."""

    type = "shell"
    executable = "bash"

    def command(self, prompt: str, *, run_dir: Path, session_id: str = "") -> AgentCommand:
        script = run_dir / "prompt"
        storage.file_write(script, prompt)
        return AgentCommand([*self.base_argv(), *self.extra_flags, str(script)], env=self.env)

    def version_argv(self) -> list[str] | None:
        return None

    def final_message(self, stdout_tail: str) -> str:
        lines = [line for line in stdout_tail.splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""
