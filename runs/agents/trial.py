"""The Agents page's test button: one one-line prompt through an agent type or profile, in a
scratch folder, to see that the CLI is there and answers, before a task depends on it.

It runs the command line the pipeline would (`Agent.command`, `Agent.resolve`) with the
server's environment, outside any project, task or run (in a folder of the data dir's
`agent-tests/`, removed after): nothing is stored, and a CLI that is
missing or misconfigured gives the message a run would have failed with.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from projects import storage
from runs.agents import UnknownAgent, agent_for
from runs.agents.base import AgentNotFound
from runs.processes import kill_group

TRIAL_TIMEOUT_SECONDS = 60.0
OUTPUT_KEPT = 4000  # characters of each stream shown, from the end


@dataclass(frozen=True)
class TrialResult:
    """`error` says why the agent could not start (then `exit_code` is None)."""

    agent: str
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    error: str = ""
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return not self.error and self.exit_code == 0


def agent_trial(name: str, prompt: str) -> TrialResult:
    """Run `prompt` with the agent `name` (a type or a profile) and wait for it, at most
    `TRIAL_TIMEOUT_SECONDS`."""
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL")}
    scratches = storage.folder_make(storage.data_dir() / "agent-tests")
    with tempfile.TemporaryDirectory(dir=scratches) as scratch:
        try:
            agent = agent_for(name)
            agent.check()
            command = agent.command(prompt, run_dir=Path(scratch))
            argv = agent.resolve(command.argv, env.get("PATH", ""))
        except (AgentNotFound, UnknownAgent, ValueError, OSError) as exc:
            return TrialResult(name, error=str(exc))
        return _run(name, argv, scratch, {**env, **command.env}, command.stdin)


def _run(
    name: str, argv: list[str], cwd: str, env: dict[str, str], stdin: str | None
) -> TrialResult:
    """In a process group of its own, so that a timeout stops what the prompt started too
    (a child left holding the pipes would keep this request waiting)."""
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        return TrialResult(name, error=f"could not start {argv[0]!r}: {exc}")
    with process:
        try:
            stdout, stderr = process.communicate(stdin or "", timeout=TRIAL_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            kill_group(process.pid, signal.SIGKILL)
            stdout, _ = process.communicate()
            error = f"no answer within {TRIAL_TIMEOUT_SECONDS:g} s: stopped"
            return TrialResult(name, stdout=_tail(stdout), error=error, timed_out=True)
    return TrialResult(name, process.returncode, _tail(stdout), _tail(stderr))


def _tail(text: str | None) -> str:
    return (text or "")[-OUTPUT_KEPT:]
