"""Where Conductor keeps files in its data dir: `<data>/<project>/<task>/runs/<run>/`."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def data_dir() -> Path:
    return Path(settings.DATA_DIR)


def project_dir(project_id: str) -> Path:
    return data_dir() / project_id


def task_dir(project_id: str, task_id: str) -> Path:
    return project_dir(project_id) / task_id


def run_dir(project_id: str, task_id: str, run_id: str) -> Path:
    return task_dir(project_id, task_id) / "runs" / run_id


def worktree_root() -> Path:
    return Path(settings.CONDUCTOR["WORKTREE_ROOT"])
