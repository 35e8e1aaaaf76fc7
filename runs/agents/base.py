"""What every agent adapter provides: its command line, its version, how to resume it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from django.conf import settings

from projects.models import AgentProfile


class AgentNotFound(Exception):
    """The agent's executable is not on PATH: the message says what to do."""


@dataclass
class AgentCommand:
    argv: list[str]
    stdin: str | None = None
    env: dict[str, str] = field(default_factory=dict)


class Agent:
    """An adapter: subclasses set `type`, `executable` and build the arguments."""

    type: ClassVar[str]
    executable: ClassVar[str]
    supports_resume: ClassVar[bool] = False
    # How its stdout is read as a conversation: a format of `runs.entries.formats`.
    entry_format: ClassVar[str] = "auto"

    def __init__(self, profile: AgentProfile | None = None) -> None:
        self.profile = profile

    @property
    def model(self) -> str:
        return self.profile.model if self.profile else ""

    @property
    def extra_flags(self) -> list[str]:
        return [str(flag) for flag in self.profile.flags] if self.profile else []

    @property
    def env(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.profile.env.items()} if self.profile else {}

    def base_argv(self) -> list[str]:
        """The executable, or the profile's `command` override (split like a shell would)."""
        if self.profile and self.profile.command:
            return shlex.split(self.profile.command)
        return [self.executable]

    def resolve(self, argv: list[str], path: str) -> list[str]:
        found = shutil.which(argv[0], path=path)
        if not found:
            raise AgentNotFound(
                f"agent '{self.type}' not found on PATH ({argv[0]!r}) — install it or set the "
                "command in the agent profile"
            )
        return [found, *argv[1:]]

    def check(self) -> None:
        """Raise ValueError when this agent cannot run as configured."""

    def command(self, prompt: str, *, run_dir: Path, session_id: str = "") -> AgentCommand:
        raise NotImplementedError

    def version_argv(self) -> list[str] | None:
        return [*self.base_argv(), "--version"]

    def version(self, path: str) -> str:
        """The first line of `<agent> --version`, asked once per binary and modification
        time: an upgrade (a new file, or a link pointing elsewhere) is asked again."""
        argv = self.version_argv()
        if not argv:
            return ""
        try:
            resolved = self.resolve(argv, path)
            modified = os.stat(resolved[0]).st_mtime_ns
        except (AgentNotFound, OSError):
            return ""
        return _version_of(tuple(resolved), modified)

    def version_soon(self, path: str) -> Future[str]:
        """`version` on a thread of its own, so that a probe (a cold `node` start can take
        longer than the agent's setup) runs beside the agent instead of before it."""
        return _probes.submit(self.version, path)

    def session_id(self, stdout_head: str) -> str:
        """The agent's session id, read from the start of its output ('' if none)."""
        return ""

    def final_message(self, stdout_tail: str) -> str:
        """The agent's closing summary, read from the end of its output ('' if none)."""
        return ""


class ClaudeStreamJsonAgent(Agent):
    """An agent whose stream JSON opens and ends as Claude Code's does (Claude; Amp, Cursor and
    Qwen copy it): the session id in the `system` event, the closing summary in `result`."""

    def session_id(self, stdout_head: str) -> str:
        return first_json_value(stdout_head, "session_id", type="system")

    def final_message(self, stdout_tail: str) -> str:
        return last_json_value(stdout_tail, "result", type="result")


_probes = ThreadPoolExecutor(max_workers=2, thread_name_prefix="agent-version")


@lru_cache(maxsize=64)
def _version_of(argv: tuple[str, ...], modified_ns: int) -> str:
    """First line of `<agent> --version` with a timeout; cached per argv and the binary's
    modification time (the key's second part, not read here)."""
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=settings.CONDUCTOR["AGENT_VERSION_TIMEOUT"],
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip()[:255] if lines else ""


def json_lines(text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects among `text`'s lines; other lines are skipped."""
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def last_json_value(text: str, key: str, **match: str) -> str:
    """The `key` of the last JSON line whose fields equal `match`."""
    found = ""
    for obj in json_lines(text):
        if all(obj.get(k) == v for k, v in match.items()) and isinstance(obj.get(key), str):
            found = obj[key]
    return found


def first_json_value(text: str, key: str, **match: str) -> str:
    for obj in json_lines(text):
        if all(obj.get(k) == v for k, v in match.items()) and isinstance(obj.get(key), str):
            return str(obj[key])
    return ""
