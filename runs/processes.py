"""Signalling agent processes: a run's process group, and every process that belongs to a run
whether or not its leader lives (found through `/proc`, by the run's id in the environment).

The supervisor stops and reaps through these; `runs.services` kills what a crashed run left.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import suppress


def kill_group(pgid: int, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def run_processes_kill(run_id: str, leader: int | None = None) -> int:
    """SIGKILL every process of a run, whether or not its leader lives: each session that
    holds a process whose environment names the run (a child that left with `setsid` keeps
    it), and the session of `leader` (the agent's pid) once the leader is gone. Pass
    `leader` only for a pid of this host: a pid stays reserved while its session has
    members, so a dead leader's session is the run's; a live leader is trusted only by
    its environment (pids get reused). Returns how many processes were signalled."""
    killed = 0
    for _ in range(10):  # what forked during a pass is caught by the next
        targets = _run_pids(run_id, leader)
        for pid in targets:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed += len(targets)
        if not targets:
            break
    return killed


def _run_pids(run_id: str, leader: int | None) -> list[int]:
    marker = f"CONDUCTOR_RUN_ID={run_id}".encode()
    sessions: dict[int, int] = {}
    marked: set[int] = set()
    for pid, sid in _live_processes():
        sessions[pid] = sid
        if _environ_has(pid, marker):
            marked.add(pid)
    ours = {sessions[pid] for pid in marked}
    if leader and (leader not in sessions or leader in marked):
        ours.add(leader)
    me = os.getpid()
    return [pid for pid, sid in sessions.items() if (sid in ours or pid in marked) and pid != me]


def _live_processes() -> Iterator[tuple[int, int]]:
    """(pid, session id) of every process not yet dead (zombies are only waiting to be
    reaped)."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X"):
            yield int(entry.name), int(fields[3])


def _environ_has(pid: int, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            return marker in environ.read().split(b"\0")
    except OSError:
        return False
