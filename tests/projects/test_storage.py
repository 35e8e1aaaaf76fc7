"""Reads and writes in the data dir follow no symlink an agent planted in its folders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from projects import storage

SECRET = "the secret key\n"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "secret_key"
    path.parent.mkdir()
    path.write_text(SECRET)
    return path


@pytest.fixture
def folder(data_dir: Path) -> Path:
    path = data_dir / "demo" / "t1" / "runs" / "run-1"
    path.mkdir(parents=True)
    return path


def test_a_regular_file_is_read_whole_or_from_an_offset(folder: Path) -> None:
    (folder / "output.md").write_text("hello world\n")

    assert storage.file_text(folder / "output.md") == "hello world\n"
    assert storage.file_read(folder / "output.md", offset=6, size=5) == b"world"
    stat = storage.file_stat(folder / "output.md")
    assert stat is not None and stat.st_size == 12


def test_a_missing_file_or_folder_reads_as_none(folder: Path) -> None:
    assert storage.file_text(folder / "output.md") is None
    assert storage.file_stat(folder.parent / "run-2" / "output.md") is None


def test_a_file_symlinked_out_reads_as_missing(folder: Path, secret: Path) -> None:
    (folder / "output.md").symlink_to(secret)

    assert storage.file_text(folder / "output.md") is None
    assert storage.file_stat(folder / "output.md") is None


def test_a_symlink_to_another_file_of_the_data_dir_reads_as_missing(
    folder: Path, data_dir: Path
) -> None:
    (data_dir / "secret_key").write_text(SECRET)
    (folder / "output.md").symlink_to(data_dir / "secret_key")

    assert storage.file_text(folder / "output.md") is None


def test_a_folder_swapped_for_a_symlink_reads_as_missing(
    folder: Path, data_dir: Path, secret: Path
) -> None:
    (secret.parent / "output.md").write_text(SECRET)
    runs = folder.parent
    os.rename(runs, data_dir / "old-runs")
    runs.symlink_to(secret.parent)
    (secret.parent / "run-1").mkdir()
    (secret.parent / "run-1" / "output.md").write_text(SECRET)

    assert storage.file_text(folder / "output.md") is None
    with pytest.raises(OSError, match="symlink"):
        storage.file_write(folder / "output.md", "x")
    assert (secret.parent / "run-1" / "output.md").read_text() == SECRET


def test_a_fifo_reads_as_missing_without_blocking(folder: Path) -> None:
    os.mkfifo(folder / "output.md")

    assert storage.file_text(folder / "output.md") is None


def test_a_write_replaces_a_planted_symlink_never_its_target(folder: Path, secret: Path) -> None:
    (folder / "TASK.md").symlink_to(secret)

    storage.file_write(folder / "TASK.md", "# the task\n")

    assert secret.read_text() == SECRET
    assert not (folder / "TASK.md").is_symlink()
    assert (folder / "TASK.md").read_text() == "# the task\n"


def test_a_keeping_write_leaves_whatever_is_there(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside-file"
    (folder / "output.md").symlink_to(outside)

    assert storage.file_write(folder / "output.md", "final\n", replace=False) is False
    assert not outside.exists()
    assert storage.file_write(folder / "fresh.md", "final\n", replace=False) is True
    assert (folder / "fresh.md").read_text() == "final\n"


def test_a_write_makes_the_missing_folders(data_dir: Path) -> None:
    path = data_dir / "demo" / "t9" / "TASK.md"

    storage.file_write(path, "hi")

    assert path.read_text() == "hi"
    assert storage.folder_make(data_dir / "demo" / "t9" / "runs" / "r").is_dir()


def test_a_remove_unlinks_a_planted_link_and_never_goes_through_one(
    folder: Path, data_dir: Path, secret: Path
) -> None:
    (folder / "DONE").symlink_to(secret)
    assert storage.file_remove(folder / "DONE") is True
    assert secret.read_text() == SECRET
    assert storage.file_remove(folder / "DONE") is False

    (secret.parent / "DONE").write_text("")
    runs = folder.parent
    shutil.rmtree(runs)
    runs.symlink_to(secret.parent)
    assert storage.file_remove(runs / "DONE") is False
    assert (secret.parent / "DONE").exists()
    with pytest.raises(storage.PathRefused):
        storage.folder_remove(runs / "anything")
    storage.folder_remove(runs)
    assert not os.path.lexists(runs)
    assert secret.read_text() == SECRET


def test_a_folder_remove_removes_the_folder_and_a_missing_one_is_fine(folder: Path) -> None:
    (folder / "output.md").write_text("x")

    storage.folder_remove(folder.parent)
    storage.folder_remove(folder.parent)

    assert not folder.parent.exists()


def test_file_sizes_counts_only_regular_files_reached_through_no_link(
    folder: Path, data_dir: Path, secret: Path
) -> None:
    runs = folder.parent
    (folder / "output.md").write_text("hello\n")
    for name in ("link", "fifo", "swapped", "missing"):
        (runs / name).mkdir()
    (runs / "link" / "output.md").symlink_to(secret)
    os.mkfifo(runs / "fifo" / "output.md")
    (runs / "swapped").rmdir()
    (runs / "swapped").symlink_to(secret.parent)
    (secret.parent / "output.md").write_text(SECRET)
    names = ("run-1", "link", "fifo", "swapped", "missing")
    other_task = data_dir / "demo" / "t2" / "runs" / "run-9" / "output.md"

    sizes = storage.file_sizes([*(runs / name / "output.md" for name in names), other_task])

    assert sizes == {folder / "output.md": 6}


def test_a_folder_removed_leaves_its_place_at_once_and_goes_after_the_block(
    data_dir: Path, folder: Path
) -> None:
    project = data_dir / "demo"

    with storage.folder_removed(project):
        assert not project.exists()
        [aside] = storage.trash_dir().iterdir()
        assert (aside / "t1" / "runs" / "run-1").is_dir()

    assert not project.exists()
    assert list(storage.trash_dir().iterdir()) == []


def test_a_folder_removed_is_put_back_whole_when_the_block_fails(
    data_dir: Path, folder: Path
) -> None:
    (folder / "output.md").write_text("kept\n")

    with pytest.raises(RuntimeError), storage.folder_removed(data_dir / "demo"):
        raise RuntimeError("the delete failed")

    assert (folder / "output.md").read_text() == "kept\n"
    assert list(storage.trash_dir().iterdir()) == []


def test_a_folder_made_again_meanwhile_keeps_both_when_the_block_fails(
    data_dir: Path, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (folder / "output.md").write_text("the old one\n")
    project = data_dir / "demo"

    with pytest.raises(RuntimeError), storage.folder_removed(project):
        project.mkdir()
        (project / "new.md").write_text("the new one\n")
        raise RuntimeError("the delete failed")

    assert (project / "new.md").read_text() == "the new one\n"
    [aside] = storage.trash_dir().iterdir()
    assert (aside / "t1" / "runs" / "run-1" / "output.md").read_text() == "the old one\n"
    assert "could not be put back" in caplog.text


def test_what_a_crash_left_in_the_trash_goes_at_start_but_not_a_delete_under_way(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (storage.trash_dir() / "demo-0123" / "t1").mkdir(parents=True)

    storage.trash_empty()
    assert (storage.trash_dir() / "demo-0123").is_dir(), "set aside just now: may be put back"

    monkeypatch.setattr(storage, "TRASH_KEEP_SECONDS", -60)  # as if set aside long ago
    storage.trash_empty()
    assert list(storage.trash_dir().iterdir()) == []


def test_a_trash_swapped_for_a_symlink_is_never_emptied_through_it(
    data_dir: Path, secret: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.trash_dir().symlink_to(secret.parent)
    monkeypatch.setattr(storage, "TRASH_KEEP_SECONDS", -60)

    storage.trash_empty()

    assert secret.read_text() == SECRET
