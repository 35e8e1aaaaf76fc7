"""Looking around the disk for the "create project" form: a folder's entries, and the git
repositories under a folder (`/api/v1/filesystem/...`).

Only folders inside the browse roots may be read: the user's home and the folders the
`CONDUCTOR_BROWSE_ROOTS` setting names. A requested path is resolved (symlinks and `..`
included) and checked against the roots; then the folder is opened and the path of what was
opened is checked again, so a symlink swapped in between leads nowhere. The walk that finds
repositories goes through folder descriptors (`os.fwalk`) and never follows a symlink.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from conductor_site.errors import DomainError

PATH_MAX = 4096
# Folders a repository search never enters: dependencies, caches and build output, which hold
# thousands of folders and no repository of the user's own.
HEAVY_FOLDERS = frozenset(
    {
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        "site-packages",
        "target",
        "dist",
        "build",
        ".cache",
        ".tox",
        ".mypy_cache",
        ".pytest_cache",
        ".gradle",
        ".m2",
        ".cargo",
        ".npm",
        ".rustup",
        "Library",
    }
)
# How much a repository search reads at most: it answers `truncated` beyond.
SEARCH_FOLDERS_MAX = 20_000
DEPTH_DEFAULT, DEPTH_MAX = 3, 6


class PathOutside(DomainError):
    """A path that is not absolute, holds a NUL, or lies outside the browse roots (400)."""


class FolderMissing(DomainError):
    status_code = 404


class FolderUnreadable(DomainError):
    """Not a directory, or one the server may not read (400)."""


def browse_roots() -> list[Path]:
    """The user's home and the configured roots, resolved, without duplicates."""
    configured = [Path(root) for root in settings.CONDUCTOR["BROWSE_ROOTS"]]
    roots = [Path.home(), *configured]
    return list(dict.fromkeys(root.resolve() for root in roots if root.is_absolute()))


def _inside_roots(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def confined(value: str) -> Path:
    """`value` resolved, when it is an absolute path inside a browse root; else PathOutside.
    Whether something exists outside the roots is never told."""
    if "\0" in value or not value.startswith("/") or len(value) > PATH_MAX:
        raise PathOutside("path must be an absolute path without NUL", path=value[:PATH_MAX])
    roots = browse_roots()
    try:
        resolved = Path(value).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long
        raise PathOutside(f"{value} cannot be used: {exc}", path=value) from exc
    if not _inside_roots(resolved, roots):
        raise PathOutside(
            f"{value} is outside the folders Conductor may browse",
            path=value,
            roots=[str(root) for root in roots],
        )
    return resolved


@contextmanager
def folder_opened(value: str) -> Iterator[tuple[int, Path]]:
    """A descriptor of the folder `value` names, with its real path, both inside the roots."""
    path = confined(value)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise FolderMissing(f"{path} does not exist", path=str(path)) from exc
    except OSError as exc:
        raise FolderUnreadable(f"{path} cannot be read: {exc.strerror}", path=str(path)) from exc
    try:
        real = Path(os.readlink(f"/proc/self/fd/{fd}")) if Path("/proc/self/fd").is_dir() else path
        if not _inside_roots(real, browse_roots()):
            raise PathOutside(f"{value} is outside the folders Conductor may browse", path=value)
        yield fd, real
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Entry:
    name: str
    path: str
    is_directory: bool
    is_symlink: bool
    is_git_repo: bool
    modified: datetime


def folder_entries(value: str, *, hidden: bool = False) -> tuple[Path, list[Entry]]:
    """The folder's real path and its entries, folders first, each group by name; dot
    entries only when `hidden`. A symlink counts as a folder only when it leads to one
    inside the roots."""
    with folder_opened(value) as (fd, real):
        try:
            names = os.listdir(fd)
        except OSError as exc:
            raise FolderUnreadable(f"{real} cannot be read: {exc.strerror}") from exc
        roots = browse_roots()
        found = [
            entry
            for name in names
            if (hidden or not name.startswith("."))
            and (entry := _entry(fd, real, name, roots)) is not None
        ]
    found.sort(key=lambda e: (not e.is_directory, e.name.casefold(), e.name))
    return real, found


def _entry(fd: int, folder: Path, name: str, roots: list[Path]) -> Entry | None:
    try:
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:  # gone meanwhile
        return None
    link = stat.S_ISLNK(info.st_mode)
    directory = stat.S_ISDIR(info.st_mode) or (link and _leads_to_folder(folder / name, roots))
    modified = datetime.fromtimestamp(info.st_mtime, tz=UTC)
    repo = directory and not link and _has_git(fd, name)
    return Entry(name, str(folder / name), directory, link, repo, modified)


def _leads_to_folder(path: Path, roots: list[Path]) -> bool:
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return target.is_dir() and _inside_roots(target, roots)


def _has_git(fd: int, name: str) -> bool:
    """The folder holds a `.git` (a folder, or the file of a linked worktree or submodule)."""
    try:
        os.stat(f"{name}/.git", dir_fd=fd, follow_symlinks=False)
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Found:
    repositories: list[Entry]
    truncated: bool  # the bounds stopped the search before it saw everything


def repositories_under(value: str, *, depth: int, limit: int) -> tuple[Path, Found]:
    """Git repositories at or below the folder, at most `depth` levels down and `limit` of
    them, by path. The search never follows a symlink, never enters a hidden folder, one of
    `HEAVY_FOLDERS` or a repository it found below the folder (nested ones stay hidden; the
    folder itself is searched even when it is a repository: a home kept in git)."""
    truncated = False
    repositories: list[Entry] = []
    with folder_opened(value) as (fd, real):
        walk = os.fwalk(".", dir_fd=fd, follow_symlinks=False)
        for seen, (relative, folders, files, here) in enumerate(walk, 1):
            if ".git" in folders or ".git" in files:
                repositories.append(_repository(real, relative, here))
                if relative != ".":
                    folders.clear()
            folders[:] = sorted(name for name in folders if _worth_entering(name))
            deep = bool(folders) and len(Path(relative).parts) >= depth
            if deep:
                folders.clear()
            if len(repositories) >= limit or seen >= SEARCH_FOLDERS_MAX:
                return real, Found(sorted(repositories, key=lambda e: e.path), True)
            truncated = truncated or deep
    return real, Found(sorted(repositories, key=lambda e: e.path), truncated)


def _worth_entering(name: str) -> bool:
    return not name.startswith(".") and name not in HEAVY_FOLDERS


def _repository(top: Path, relative: str, fd: int) -> Entry:
    path = (top / relative) if relative != "." else top
    modified = datetime.fromtimestamp(os.fstat(fd).st_mtime, tz=UTC)
    return Entry(path.name, str(path), True, False, True, modified)


def parent_inside_roots(folder: Path) -> str | None:
    """The folder above, when it may be browsed too (none above a root)."""
    return str(folder.parent) if _inside_roots(folder.parent, browse_roots()) else None
