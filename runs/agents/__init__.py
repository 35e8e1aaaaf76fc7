"""Agent adapters, by type. `agent_for(name)` takes a profile name or a bare agent type."""

from __future__ import annotations

from runs.agents.amp import AmpAgent
from runs.agents.base import Agent, AgentCommand, AgentNotFound
from runs.agents.claude import ClaudeAgent
from runs.agents.codex import CodexAgent
from runs.agents.cursor import CursorAgent
from runs.agents.custom import CustomAgent
from runs.agents.gemini import GeminiAgent
from runs.agents.opencode import OpencodeAgent
from runs.agents.qwen import QwenAgent
from runs.agents.shell import ShellAgent

AGENT_TYPES: dict[str, type[Agent]] = {
    cls.type: cls
    for cls in (
        ShellAgent,
        CustomAgent,
        ClaudeAgent,
        CodexAgent,
        GeminiAgent,
        AmpAgent,
        CursorAgent,
        OpencodeAgent,
        QwenAgent,
    )
}

__all__ = ["AGENT_TYPES", "Agent", "AgentCommand", "AgentNotFound", "UnknownAgent", "agent_for"]


class UnknownAgent(ValueError):
    pass


def agent_for(name: str) -> Agent:
    from projects.models import AgentProfile

    profile = AgentProfile.objects.filter(name=name).first()
    agent_type = profile.agent_type if profile else name
    cls = AGENT_TYPES.get(agent_type)
    if cls is None:
        known = ", ".join(sorted(AGENT_TYPES))
        raise UnknownAgent(
            f"unknown agent_type {name!r}: use one of {known}, or the name of an agent profile"
        )
    return cls(profile)
