"""How a process ended, in words: the run's status and a readable summary from its exit code,
its stop reason and its log's errors. Pure but for naming the worker and a full disk."""

from __future__ import annotations

import signal

from projects import storage
from runs.models import RunStatus
from runs.supervisor import ProcessResult, supervisor


def outcome(result: ProcessResult, cwd: str) -> tuple[str, str]:
    """The run's status and a readable summary of how it ended (and of a full disk under
    `cwd` when it failed)."""
    status, summary = RunStatus.FAILED, ""
    if result.spawn_error:
        summary = result.spawn_error
    elif result.stop_reason == "user":
        status, summary = RunStatus.STOPPED, "stopped by user"
    elif result.stop_reason == "shutdown":
        status, summary = RunStatus.CRASHED, f"worker '{supervisor().name}' shut down"
    elif result.exit_code == 0:
        status = RunStatus.SUCCESS
    else:
        summary = describe_exit(result.exit_code)
    notes = [summary, result.totals.error]
    if status == RunStatus.FAILED:
        notes.append(storage.low_disk_note(cwd))
    return status, "; ".join(note for note in notes if note)


def describe_exit(code: int) -> str:
    if code > 128:
        sig = code - 128
        if sig == signal.SIGKILL:
            return "killed (out of memory or external signal)"
        try:
            name = signal.Signals(sig).name
        except ValueError:
            return f"exited with code {code}"
        return {"SIGTERM": "terminated (SIGTERM)", "SIGINT": "interrupted (SIGINT)"}.get(
            name, f"killed by {name}"
        )
    return {
        126: "command could not be executed (permission denied or not executable)",
        127: "command not found",
    }.get(code, f"exited with code {code}")
