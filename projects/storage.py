"""Where Conductor keeps files in its data dir: `<data>/projects/<project>/<task>/runs/<run>/`.

Users' names live under `projects/` only, so no project id can name one of Conductor's own
entries beside it (`conductor.sqlite3`, `secret_key`, `config.yaml`, `server.lock`, `_audit/`,
`_worktrees/`), and under `repositories/`: the clones of projects made from a `repo_url`,
`<data>/repositories/<project>/`, kept apart from the project's folder because deleting a
project keeps its repository (its branches hold the work). `projects.layout` moves a data dir
of the old layout (`<data>/<project>/`). `<data>/.trash/` holds the folders of a delete on
their way out (`folder_removed`): a dot name, which no id can be.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

log = logging.getLogger("conductor")


def data_dir() -> Path:
    return Path(settings.DATA_DIR)


def projects_dir() -> Path:
    return data_dir() / "projects"


def project_dir(project_id: str) -> Path:
    return projects_dir() / project_id


def clone_dir(project_id: str) -> Path:
    return data_dir() / "repositories" / project_id


def task_dir(project_id: str, task_id: str) -> Path:
    return project_dir(project_id) / task_id


def run_dir(project_id: str, task_id: str, run_id: str) -> Path:
    return task_dir(project_id, task_id) / "runs" / run_id


def images_dir(project_id: str) -> Path:
    """The project's uploaded images (`tasks.images`): a dot name, which no task id can be."""
    return project_dir(project_id) / ".images"


def trash_dir() -> Path:
    return data_dir() / ".trash"


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


# Agents write in their task and run folders, and may plant symlinks there (or swap a folder
# for one). Conductor reads and writes those folders only through the functions below, which
# walk from the data dir one component at a time and follow no symlink on the way: a planted
# link reads as "not there" and is never written through.


class PathRefused(OSError):
    """A symlink stands where Conductor expects a folder of its own."""


_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def file_read(path: Path, *, offset: int = 0, size: int = -1) -> bytes | None:
    """Up to `size` bytes of a regular file in the data dir from byte `offset`; None when it
    is missing, a symlink (or below one), or not a regular file (a FIFO would block)."""
    fd = _open_file(path)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        handle.seek(offset)
        return handle.read(size)


def file_text(path: Path) -> str | None:
    data = file_read(path)
    return None if data is None else data.decode(errors="replace")


def file_stat(path: Path) -> os.stat_result | None:
    """The file's size and times, on the terms of `file_read`."""
    fd = _open_file(path)
    if fd is None:
        return None
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def file_mtime(path: Path) -> datetime | None:
    """When the file last changed, on the terms of `file_read`; None when it is not there."""
    found = file_stat(path)
    return None if found is None else datetime.fromtimestamp(found.st_mtime, tz=UTC)


def file_sizes(paths: list[Path]) -> dict[Path, int]:
    """The sizes of the regular files among `paths`, on the terms of `file_read`, opening each
    shared grandparent once (a task's run list asks for one file in each run folder)."""
    sizes: dict[Path, int] = {}
    by_grandparent: dict[Path, list[Path]] = {}
    for path in paths:
        by_grandparent.setdefault(path.parent.parent, []).append(path)
    for grandparent, inside in by_grandparent.items():
        try:
            folder = _open_folder(grandparent, make=False)
        except OSError:
            continue
        try:
            sizes.update((path, size) for path in inside if (size := _size_at(folder, path)) >= 0)
        finally:
            os.close(folder)
    return sizes


def _size_at(grandparent: int, path: Path) -> int:
    """The size of regular file `<parent name>/<name>` below a folder descriptor, else -1."""
    try:
        parent = os.open(path.parent.name, _DIRECTORY, dir_fd=grandparent)
    except OSError:
        return -1
    try:
        found = os.stat(path.name, dir_fd=parent, follow_symlinks=False)
    except OSError:
        return -1
    finally:
        os.close(parent)
    return found.st_size if stat.S_ISREG(found.st_mode) else -1


def file_write(
    path: Path, text: str | bytes, *, replace: bool = True, root: Path | None = None
) -> bool:
    """Write a file in the data dir (or below `root`, e.g. a worktree), making its folders,
    through no symlink. A symlink in its place is replaced when `replace`; else anything
    there is kept (returns False)."""
    folder = _open_folder(path.parent, make=True, root=root)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(path.name, flags, 0o644, dir_fd=folder)
        except FileExistsError:
            if not replace:
                return False
            os.unlink(path.name, dir_fd=folder)  # the file, or a link, never its target
            fd = os.open(path.name, flags, 0o644, dir_fd=folder)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode() if isinstance(text, str) else text)
        return True
    finally:
        os.close(folder)


def folder_make(path: Path) -> Path:
    """`mkdir -p` of a folder in the data dir that refuses to go through a symlink."""
    os.close(_open_folder(path, make=True))
    return path


def file_remove(path: Path) -> bool:
    """Remove a file (or a link, never its target) of the data dir; False when there was none
    (or it is only reached through a symlink)."""
    try:
        folder = _open_folder(path.parent, make=False)
    except OSError:
        return False
    try:
        os.unlink(path.name, dir_fd=folder)
    except (FileNotFoundError, IsADirectoryError):
        return False
    finally:
        os.close(folder)
    return True


def file_unlink(path: Path, *, root: Path) -> None:
    """Remove the file (or the link itself, never its target) at `path` below `root`, through
    no symlink: PathRefused when a folder on the way is a symlink, FileNotFoundError when it
    is missing, IsADirectoryError for a folder."""
    folder = _open_folder(path.parent, make=False, root=root)
    try:
        if stat.S_ISDIR(os.lstat(path.name, dir_fd=folder).st_mode):
            raise IsADirectoryError(errno.EISDIR, f"{path} is a folder")
        os.unlink(path.name, dir_fd=folder)
    finally:
        os.close(folder)


def folder_remove(path: Path) -> None:
    """`rm -rf` of a folder of the data dir. A symlink in its place is unlinked, never
    followed; a symlink above it is PathRefused. A missing folder is fine."""
    try:
        parent = _open_folder(path.parent, make=False)
    except FileNotFoundError:
        return
    try:
        if stat.S_ISDIR(os.lstat(path.name, dir_fd=parent).st_mode):
            shutil.rmtree(path.name, dir_fd=parent)
        else:
            os.unlink(path.name, dir_fd=parent)
    except FileNotFoundError:
        return
    finally:
        os.close(parent)


@contextmanager
def folder_removed(path: Path) -> Iterator[None]:
    """`folder_remove` of a folder whose rows the block deletes, without the wait inside it:
    the folder leaves its place at once, in one rename into `.trash/`, and is removed after the
    block; if the block fails it is put back. Why: a project's folder (its runs' logs, which
    may be gigabytes) was removed inside the delete's transaction, and the bus's and the event
    log's locks (with SQLite, the database) were held as long, for every project: appends,
    runs' status changes and live events all waited. Renamed, not removed after the commit: a
    project or task made again with the same id meanwhile gets a folder of its own, never one
    being removed. What a crash leaves in `.trash/` goes at the next start (`trash_empty`)."""
    aside = _set_aside(path)
    try:
        yield
    except BaseException:
        if aside is not None:
            _put_back(aside, path)
        raise
    if aside is not None:
        folder_remove(aside)


def _set_aside(path: Path) -> Path | None:
    """The folder moved into `.trash/` under a name of its own, where it is now; a symlink or
    a file in its place is unlinked at once (None), as is nothing there (None)."""
    try:
        parent = _open_folder(path.parent, make=False)
    except FileNotFoundError:
        return None
    try:
        try:
            if not stat.S_ISDIR(os.lstat(path.name, dir_fd=parent).st_mode):
                os.unlink(path.name, dir_fd=parent)
                return None
        except FileNotFoundError:
            return None
        trash = _open_folder(trash_dir(), make=True)
        aside = f"{path.name}-{uuid.uuid4().hex}"
        try:
            os.rename(path.name, aside, src_dir_fd=parent, dst_dir_fd=trash)
        finally:
            os.close(trash)
        return trash_dir() / aside
    finally:
        os.close(parent)


def _put_back(aside: Path, path: Path) -> None:
    """The folder back in its place; if that fails (something made it again meanwhile), both
    are kept and the error is logged with where each is."""
    try:
        parent = _open_folder(path.parent, make=True)
        try:
            trash = _open_folder(aside.parent, make=False)
            try:
                os.rename(aside.name, path.name, src_dir_fd=trash, dst_dir_fd=parent)
            finally:
                os.close(trash)
        finally:
            os.close(parent)
    except OSError:
        log.exception(
            "a delete failed and its folder %s could not be put back from %s", path, aside
        )


TRASH_KEEP_SECONDS = 600  # longer than any delete's transaction


def trash_empty() -> None:
    """On start: the folders a delete set aside and did not remove (its process ended between
    the commit and the removal). Only those set aside over `TRASH_KEEP_SECONDS` ago (the
    rename set their ctime): another process's delete may be between its rename and its
    commit, and put its folder back if it fails."""
    try:
        trash = _open_folder(trash_dir(), make=False)
    except OSError:  # none yet, or not a folder of ours (a symlink: never followed)
        return
    try:
        stale = time.time() - TRASH_KEEP_SECONDS
        names = [
            e.name for e in os.scandir(trash) if e.stat(follow_symlinks=False).st_ctime < stale
        ]
    finally:
        os.close(trash)
    for name in names:
        folder_remove(trash_dir() / name)


def folder_exists(path: Path) -> bool:
    """Whether `path` is a folder of Conductor's own (no symlink on the way, as `file_read`)."""
    try:
        os.close(_open_folder(path, make=False))
    except OSError:
        return False
    return True


def _open_file(path: Path) -> int | None:
    try:
        folder = _open_folder(path.parent, make=False)
    except OSError:
        return None
    try:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open(path.name, flags, dir_fd=folder)
    except OSError:
        return None
    finally:
        os.close(folder)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _open_folder(path: Path, *, make: bool, root: Path | None = None) -> int:
    """A descriptor of `path`, opened from `root` (the data dir) without following any
    symlink below it; PathRefused when a part is a symlink, OSError when it is missing (and
    not `make`), a file, or cannot be made."""
    root = root or data_dir()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in path.relative_to(root).parts:
            if make:
                with suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            try:
                child = os.open(part, _DIRECTORY, dir_fd=fd)
            except NotADirectoryError as exc:  # what O_NOFOLLOW | O_DIRECTORY says of a link
                if not stat.S_ISLNK(os.lstat(part, dir_fd=fd).st_mode):
                    raise
                refused = f"{path}: {part} is a symlink, refused"
                raise PathRefused(exc.errno, refused) from exc
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd
