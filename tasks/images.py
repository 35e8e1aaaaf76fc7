"""Images attached to tasks: uploaded, checked by their bytes, kept in the project's images
folder in the data dir, served back, and copied into the agent's working directory.

The type is what the bytes say (PNG, JPEG, GIF, WebP: the signature at the start and the
format's end marker or stated length), never the client's content type or file name; a file
with anything after its image (a script appended to a GIF) is refused. A polyglot hidden
inside an image's own chunks cannot be ruled out without decoding it, which is why the file
is served with its checked type, `nosniff` and a sandboxing CSP (`tasks.image_api`).

Files are named `<image id>.<ext>`, made here; the client's name is kept as a label only.
Every read and write goes through `projects.storage`, which follows no symlink.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import struct
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from conductor_site.errors import DomainError
from projects import storage
from runs.models import Attempt
from tasks.locked import task_locked
from tasks.models import Image, Task

log = logging.getLogger(__name__)

# In the agent's working directory; `.conductor/.gitignore` (`*`) keeps it out of commits.
WORKTREE_FOLDER = Path(".conductor") / "images"


class ImageTooLarge(DomainError):
    status_code = 413


class ImageTypeRefused(DomainError):
    status_code = 415


class ImagesFolderRefused(DomainError):
    status_code = 409


def image_max_bytes() -> int:
    return int(settings.CONDUCTOR["IMAGE_MAX_BYTES"])


def image_type(data: bytes) -> tuple[str, str] | None:
    """(MIME type, extension) of a whole PNG, JPEG, GIF or WebP file, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        return ("image/png", "png") if data.endswith(b"IEND\xaeB`\x82") else None
    if data.startswith(b"\xff\xd8\xff"):
        return ("image/jpeg", "jpg") if data.endswith(b"\xff\xd9") else None
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return ("image/gif", "gif") if data.endswith(b";") else None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        (length,) = struct.unpack("<I", data[4:8])
        return ("image/webp", "webp") if length + 8 == len(data) else None
    return None


def image_upload(task: Task, upload: UploadedFile) -> Image:
    """Check the upload, write its file, record it on the task. Nothing is kept when any
    step fails: the row is made in the transaction that writing the file can undo."""
    limit = image_max_bytes()
    if (upload.size or 0) > limit:
        raise ImageTooLarge(f"the image is larger than {limit} bytes", limit=limit)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLarge(f"the image is larger than {limit} bytes", limit=limit)
    found = image_type(data)
    if found is None:
        raise ImageTypeRefused("not a whole PNG, JPEG, GIF or WebP image (judged by its bytes)")
    mime, ext = found
    image_id = f"img-{timezone.now():%Y%m%d-%H%M%S}-{secrets.token_hex(6)}"
    with transaction.atomic():
        task_locked(task)  # a delete's list of the task's images is then whole
        image = Image.objects.create(
            id=image_id,
            task=task,
            file_name=f"{image_id}.{ext}",
            original_name=_label(upload.name or ""),
            mime_type=mime,
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        try:
            storage.file_write(image_path(image), data)
        except OSError as exc:  # a symlink planted for the folder (PathRefused), a full disk
            raise ImagesFolderRefused(f"the image could not be stored: {exc}") from exc
    return image


def _label(name: str) -> str:
    """The client's file name as a label: its last part, printable, at most 255 characters
    (PostgreSQL takes no NUL)."""
    last = re.split(r"[/\\]", name)[-1]
    return "".join(ch for ch in last if ch.isprintable())[:255]


def image_path(image: Image) -> Path:
    return storage.images_dir(image.task.project_id) / image.file_name


def image_bytes(image: Image) -> bytes | None:
    """The file; None when it is gone or something not Conductor's stands in its place."""
    return storage.file_read(image_path(image))


def image_delete(image: Image) -> None:
    path = image_path(image)
    image.delete()
    storage.file_remove(path)


def image_paths(task: Task) -> list[Path]:
    """The task's image files, to remove once the task is deleted (its rows go with it)."""
    return [image_path(image) for image in task.images.select_related("task")]


def worktree_path(image: Image) -> str:
    """Where the agent finds the image: relative to its working directory."""
    return str(WORKTREE_FOLDER / image.file_name)


def prompt_with_images(task: Task, prompt: str) -> str:
    """The prompt an agent is given: the task's images named by their paths in its working
    directory (the task's stored prompt does not carry this list)."""
    paths = [worktree_path(image) for image in task.images.all()]
    if not paths:
        return prompt
    listed = "\n".join(f"- {path}" for path in paths)
    return f"{prompt}\n\nImages attached to this task (in your working directory):\n{listed}\n"


def images_copy(attempt: Attempt, cwd: Path) -> None:
    """Copy the attempt's task's images into `<cwd>/.conductor/images/`, never through a
    symlink the agent may have planted there (such a folder is skipped, and logged)."""
    images = list(Image.objects.filter(task_id=attempt.task_id).select_related("task"))
    if not images:
        return
    try:
        storage.file_write(cwd / ".conductor" / ".gitignore", "*\n", replace=False, root=cwd)
        for image in images:
            data = image_bytes(image)
            if data is None:
                log.warning("attempt %s: image %s has no file on this host", attempt.id, image.id)
                continue
            storage.file_write(cwd / WORKTREE_FOLDER / image.file_name, data, root=cwd)
    except OSError as exc:
        log.warning("attempt %s: images not copied into %s: %s", attempt.id, cwd, exc)
