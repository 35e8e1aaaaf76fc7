"""A run's files, by name (a fixed set, never a path): `output.md`, `stdout`, `stderr`, `prompt`.

`stdout` and `stderr` come from the stored log, `prompt` from the run, `output.md` from what the
agent wrote in its run folder (else, once it ended, its final message written there by the
pipeline).
"""

from __future__ import annotations

from pathlib import Path

from projects import storage
from runs.models import LogChunk, Run

RUN_FILES = {"output.md": "output", "stdout": "stdout", "stderr": "stderr", "prompt": "prompt"}


class UnknownFile(ValueError):
    pass


def log_files_exist(run: Run) -> bool:
    """Whether `stdout` and `stderr` exist: from the moment the run's process starts (its
    pipes are open; empty until it prints) or once it ended, so a client that picks the live
    output from the file list finds it before the first line."""
    return run.started_at is not None or run.ended_at is not None


def run_folder(run: Run) -> Path:
    task = run.attempt.task
    return storage.run_dir(task.project_id, task.task_id, run.id)


def run_file_text(run: Run, name: str, offset: int = 0) -> str | None:
    """The file's text from character `offset`; None when it does not exist (yet)."""
    if name not in RUN_FILES:
        raise UnknownFile(f"unknown file {name!r}: use one of {', '.join(RUN_FILES)}")
    if name in ("stdout", "stderr"):
        chunks = LogChunk.objects.filter(run=run, stream=name).order_by("seq")
        text = "".join(chunks.values_list("text", flat=True))
        return text[offset:] if text or log_files_exist(run) else None
    if name == "prompt":
        return run.prompt[offset:]
    output = storage.file_text(run_folder(run) / "output.md")
    return None if output is None else output[offset:]


def run_files(run: Run) -> list[dict[str, object]]:
    """`[{name, label, size}]` of the files that exist, for task and run details."""
    listing = []
    for name, label in RUN_FILES.items():
        text = run_file_text(run, name)
        if text is not None:
            listing.append({"name": name, "label": label, "size": len(text.encode())})
    return listing
