"""Where Conductor keeps files in its data dir: `<data>/projects/<project>/<task>/runs/<run>/`.

Users' names live under `projects/` only, so no project id can name one of Conductor's own
entries beside it (`conductor.sqlite3`, `secret_key`, `config.yaml`, `server.lock`, `_audit/`,
`_worktrees/`). `projects.layout` moves a data dir of the old layout (`<data>/<project>/`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings


def data_dir() -> Path:
    return Path(settings.DATA_DIR)


def projects_dir() -> Path:
    return data_dir() / "projects"


def project_dir(project_id: str) -> Path:
    return projects_dir() / project_id


def task_dir(project_id: str, task_id: str) -> Path:
    return project_dir(project_id) / task_id


def run_dir(project_id: str, task_id: str, run_id: str) -> Path:
    return task_dir(project_id, task_id) / "runs" / run_id


def worktree_root() -> Path:
    return Path(settings.CONDUCTOR["WORKTREE_ROOT"])


# Below this much free space a failure near the disk is most likely the full disk.
LOW_DISK_BYTES = 64 * 1024 * 1024


def low_disk_note(folder: str | Path) -> str:
    """What to tell the user when the disk holding `folder` is (nearly) full, else ""."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return ""
    if free >= LOW_DISK_BYTES:
        return ""
    return f"the disk of {folder} is full ({free // 1024} KiB free): free space and retry"
