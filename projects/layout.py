"""Moving a data dir of the old layout, `<data>/<project>/`, to `<data>/projects/<project>/`.

Before `projects/` existed, a project's folder sat beside Conductor's own entries, so a
project named `_worktrees` or `_audit` shared theirs: those are never moved. The folder of a
project named `projects` is set aside first, then moved in like the rest. Every step is safe
to repeat, and to race a worker starting on the same data dir.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

from django.db.models import Q, Value
from django.db.models.functions import Concat, Substr

from projects import storage
from projects.models import Project
from runs.models import Run

log = logging.getLogger("conductor")

OWN_ENTRIES = frozenset({"_audit", "_worktrees", "secret_key"})
# In `<data>/projects/` once it is the namespace, not the old folder of a project `projects`
# (an id cannot contain a dot).
NAMESPACE_MARKER = ".conductor-projects"
SET_ASIDE = ".projects-old"


def data_dir_migrate() -> list[str]:
    """On start: the known projects' old folders move, and runs' stored working directories
    (a project without a repository runs in its task folder) follow; what a delete left in
    `.trash/` goes (`storage.trash_empty`). Returns the ids moved."""
    storage.trash_empty()
    moved = legacy_folders_move(Project.objects.values_list("id", flat=True))
    for project_id in moved:
        old, new = str(storage.data_dir() / project_id), str(storage.project_dir(project_id))
        Run.objects.filter(attempt__task__project_id=project_id).filter(
            Q(cwd=old) | Q(cwd__startswith=f"{old}/")
        ).update(cwd=Concat(Value(new), Substr("cwd", len(old) + 1)))
    return moved


def legacy_folders_move(project_ids: Iterable[str]) -> list[str]:
    """Move `<data>/<id>/` of these projects into `<data>/projects/<id>/`; returns the ids
    moved. One whose new folder exists already stays where it is, and is logged."""
    ids = set(project_ids)
    data = storage.data_dir()
    _namespace_make(set_aside=storage.projects_dir().name in ids)
    moved = []
    for project_id in sorted(ids - OWN_ENTRIES):
        old = data / (SET_ASIDE if project_id == storage.projects_dir().name else project_id)
        if _legacy_move(old, storage.project_dir(project_id)):
            moved.append(project_id)
    for project_id in sorted(ids & OWN_ENTRIES):
        if (data / project_id).is_dir():
            log.warning("project %r shares Conductor's own %s: not moved", project_id, data)
    with suppress(OSError):  # the old static root, made empty at every start; kept if not
        (data / "static").rmdir()
    return moved


def _namespace_make(*, set_aside: bool) -> None:
    """`<data>/projects/` with its marker. Without the marker, and with a project named
    `projects`, the folder there is that project's old one: it is set aside first."""
    namespace = storage.projects_dir()
    if (namespace / NAMESPACE_MARKER).exists():
        return
    if namespace.is_dir() and set_aside:
        with suppress(FileNotFoundError):  # another process on this data dir did it
            namespace.rename(storage.data_dir() / SET_ASIDE)
    namespace.mkdir(exist_ok=True)
    (namespace / NAMESPACE_MARKER).write_text(
        "Conductor's project folders: <project_id>/<task_id>/runs/<run_id>/\n"
    )


def _legacy_move(old: Path, new: Path) -> bool:
    if not old.is_dir() or old.is_symlink():
        return False
    if new.exists():
        log.warning("not moving %s: %s exists already; merge them by hand", old, new)
        return False
    try:
        old.rename(new)
    except FileNotFoundError:  # a worker starting on this data dir moved it first
        return False
    log.warning("moved %s to %s (the data dir's new layout)", old, new)
    return True
