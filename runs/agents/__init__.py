"""Agent adapters, by type. `agent_for(name)` takes a profile name or a bare agent type."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

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

__all__ = [
    "AGENT_TYPES",
    "Agent",
    "AgentCommand",
    "AgentNotFound",
    "Installed",
    "UnknownAgent",
    "agent_for",
    "agents_installed",
]


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


@dataclass(frozen=True)
class Installed:
    """An agent type's executable as found on PATH ("" when missing) and its version."""

    type: str
    executable: str
    path: str
    version: str


def agents_installed(path: str) -> list[Installed]:
    """Each agent type with an executable of its own, found on `path`, with the version the
    runs record (`Agent.version`: its cache asks each binary once). The probes run side by
    side, so a page waits for the slowest, not for their sum."""
    agents = [cls() for cls in AGENT_TYPES.values() if cls.executable]
    probes = [agent.version_soon(path) for agent in agents]
    return [
        Installed(
            type=agent.type,
            executable=agent.executable,
            path=shutil.which(agent.executable, path=path) or "",
            version=probe.result(),
        )
        for agent, probe in zip(agents, probes, strict=True)
    ]
