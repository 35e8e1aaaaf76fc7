"""The data dir as a whole: one server at a time on it, and a warning when a git work tree
holds it.

A second `conductor serve` on the same data dir (a second `make run`) would recover the live
server's runs as crashed and kill their agents, so `conductor serve` takes `server.lock`
(an exclusive `flock`, held for the process's life, released by the kernel however the
process ends) before it touches anything, and names the holder when it cannot.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from projects import git

LOCK_FILE = "server.lock"


class DataDirBusy(Exception):
    """Another live process holds the data dir's lock."""

    def __init__(self, data_dir: Path, pid: str) -> None:
        holder = f"process {pid}" if pid else "another process"
        super().__init__(
            f"the data dir {data_dir} is in use by another Conductor server ({holder}). "
            "Stop that one first, or give this one its own data dir (--root or "
            "CONDUCTOR_DATA_DIR)."
        )


_held: list[int] = []  # the lock's descriptor: closing it would release the lock


def data_dir_lock(data_dir: Path) -> None:
    """Take the data dir for this process (for its life), writing its pid in the lock file;
    DataDirBusy when another process has it."""
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise DataDirBusy(data_dir, pid) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held.append(fd)


def work_tree_warning(data_dir: Path) -> str:
    """What to tell the user when a git work tree (a dotfiles repo at `~`, a project) holds
    the data dir and does not ignore it, else ""."""
    if not git.is_repository(data_dir) or git.is_ignored(data_dir):
        return ""
    return (
        f"warning: the data dir {data_dir} is inside the git work tree "
        f"{git.toplevel(data_dir)}: a `git add -A` or commit there would take in Conductor's "
        "database, secret key, prompts, agents' output and worktrees. Move the data dir out "
        "of the repository (--root or CONDUCTOR_DATA_DIR), or ignore it in that repository."
    )
