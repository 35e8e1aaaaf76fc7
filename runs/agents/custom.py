from __future__ import annotations

import shlex
from pathlib import Path

from runs.agents.base import Agent, AgentCommand


class CustomAgent(Agent):
    """Any CLI, from the profile's command template: `{prompt}` marks where the prompt goes
    as one argument; without it the prompt is written to the command's stdin."""

    type = "custom"
    executable = ""

    def check(self) -> None:
        if not (self.profile and self.profile.command):
            raise ValueError(
                "agent type 'custom' needs an agent profile with a command template: create one "
                "in the admin and pass its name as agent_type"
            )

    def command(self, prompt: str, *, run_dir: Path, session_id: str = "") -> AgentCommand:
        self.check()
        assert self.profile is not None
        template = self.profile.command
        words = shlex.split(template)
        if "{prompt}" in template:
            argv = [word.replace("{prompt}", prompt) for word in words]
            return AgentCommand([*argv, *self.extra_flags], env=self.env)
        return AgentCommand([*words, *self.extra_flags], stdin=prompt, env=self.env)

    def version_argv(self) -> list[str] | None:
        return None

    def final_message(self, stdout_tail: str) -> str:
        lines = [line for line in stdout_tail.splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""
