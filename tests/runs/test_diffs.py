"""An attempt's diff against the merge-base with its target, on real repositories."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects import git
from projects.models import AgentProfile, Project
from runs import diffs
from runs.models import Attempt, DiffSnapshot
from tests.conftest import attempt_finished, create_task, run_finished
from tests.helpers import git_cli


@pytest.fixture
def worktree(git_repo: Path, tmp_path: Path) -> Path:
    (git_repo / "keep.txt").write_text("one\ntwo\nthree\n")
    (git_repo / "gone.txt").write_text("bye\n")
    (git_repo / "moved.txt").write_text("".join(f"line {n}\n" for n in range(20)))
    git_cli(git_repo, "add", ".")
    git_cli(git_repo, "commit", "-qm", "files")
    path = tmp_path / "worktrees" / "wt"
    git.worktree_add(git_repo, path, "conductor/wt", "main")
    return path


def diff_of(repo: Path, worktree: Path, **options: Any) -> diffs.Diff:
    return diffs.worktree_diff(str(repo), str(worktree), "main", **options)


def by_path(diff: diffs.Diff) -> dict[str, diffs.DiffFile]:
    return {str(f["new_path"] or f["old_path"]): f for f in diff["files"]}


def test_it_lists_committed_staged_unstaged_and_untracked_changes(
    git_repo: Path, worktree: Path
) -> None:
    (worktree / "committed.txt").write_text("c\n")
    git_cli(worktree, "add", ".")
    git_cli(worktree, "commit", "-qm", "c")
    (worktree / "staged.txt").write_text("s\n")
    git_cli(worktree, "add", "staged.txt")
    (worktree / "keep.txt").write_text("one\n2\nthree\nfour\n")
    (worktree / "untracked.txt").write_text("u1\nu2\n")
    (worktree / "gone.txt").unlink()
    (worktree / ".gitignore").write_text("*.log\n")
    (worktree / "noise.log").write_text("ignored\n")

    diff = diff_of(git_repo, worktree)

    files = by_path(diff)
    assert sorted(files) == [
        ".gitignore",
        "committed.txt",
        "gone.txt",
        "keep.txt",
        "staged.txt",
        "untracked.txt",
    ]
    assert files["keep.txt"]["change"] == "modified"
    assert (files["keep.txt"]["additions"], files["keep.txt"]["deletions"]) == (2, 1)
    assert files["keep.txt"]["old_content"] == "one\ntwo\nthree\n"
    assert files["keep.txt"]["new_content"] == "one\n2\nthree\nfour\n"
    assert files["gone.txt"]["change"] == "deleted"
    assert (files["gone.txt"]["new_path"], files["gone.txt"]["new_content"]) == (None, None)
    assert files["untracked.txt"]["change"] == "added"
    assert files["untracked.txt"]["old_content"] is None
    assert files["untracked.txt"]["new_content"] == "u1\nu2\n"
    assert diff["totals"] == {"files": 6, "additions": 7, "deletions": 2}
    assert diff["head_commit"] == git_cli(worktree, "rev-parse", "HEAD").strip()


def test_it_finds_renames_and_copies_even_when_not_staged(git_repo: Path, worktree: Path) -> None:
    os.rename(worktree / "moved.txt", worktree / "renamed.txt")  # a plain mv, no `git mv`
    (worktree / "keep.txt").write_text("one\ntwo\nthree\n!\n")
    (worktree / "copy.txt").write_text("one\ntwo\nthree\n!\n")

    files = by_path(diff_of(git_repo, worktree))

    renamed = files["renamed.txt"]
    assert (renamed["change"], renamed["old_path"], renamed["similarity"]) == (
        "renamed",
        "moved.txt",
        100,
    )
    assert (renamed["additions"], renamed["deletions"]) == (0, 0)
    assert files["copy.txt"]["change"] == "copied"
    assert files["copy.txt"]["old_path"] == "keep.txt"
    assert "moved.txt" not in files


def test_it_compares_with_the_merge_base_not_with_a_target_that_moved_on(
    git_repo: Path, worktree: Path
) -> None:
    base = git_cli(git_repo, "rev-parse", "main").strip()
    (git_repo / "later.txt").write_text("on main after the attempt began\n")
    git_cli(git_repo, "add", ".")
    git_cli(git_repo, "commit", "-qm", "later")
    (worktree / "mine.txt").write_text("mine\n")

    diff = diff_of(git_repo, worktree)

    assert list(by_path(diff)) == ["mine.txt"]
    assert diff["base_commit"] == base


@pytest.mark.parametrize(
    "name",
    ["with space.txt", "new\nline.txt", "ünïcødé ✓.txt", "-dash", ":colon", "tab\tname"],
)
def test_it_keeps_odd_file_names_intact(git_repo: Path, worktree: Path, name: str) -> None:
    (worktree / name).write_text("odd\n")

    files = by_path(diff_of(git_repo, worktree))

    assert list(files) == [name]
    assert files[name]["new_content"] == "odd\n"


def test_a_rename_to_an_odd_name_keeps_both_names(git_repo: Path, worktree: Path) -> None:
    os.rename(worktree / "moved.txt", worktree / ":new\tname\n.txt")
    (worktree / "keep.txt").write_text("one\n")

    files = by_path(diff_of(git_repo, worktree))

    assert sorted(files) == [":new\tname\n.txt", "keep.txt"]
    renamed = files[":new\tname\n.txt"]
    assert (renamed["change"], renamed["old_path"]) == ("renamed", "moved.txt")
    assert (files["keep.txt"]["additions"], files["keep.txt"]["deletions"]) == (0, 2)


def test_a_name_that_is_not_utf8_is_shown_escaped(git_repo: Path, worktree: Path) -> None:
    with open(os.path.join(os.fsencode(worktree), b"caf\xe9.txt"), "w") as handle:
        handle.write("latin-1 name\n")

    files = by_path(diff_of(git_repo, worktree))

    assert list(files) == ["caf\\xe9.txt"]
    assert files["caf\\xe9.txt"]["new_content"] == "latin-1 name\n"


def test_binary_and_undecodable_files_omit_their_content(git_repo: Path, worktree: Path) -> None:
    (worktree / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))
    (worktree / "late-nul.txt").write_bytes(b"a" * 9000 + b"\x00tail\n")
    (worktree / "latin1.txt").write_bytes(b"caf\xe9\n")

    files = by_path(diff_of(git_repo, worktree))

    for name in ("image.png", "late-nul.txt", "latin1.txt"):
        assert files[name]["content_omitted"] == "binary", name
        assert files[name]["new_content"] is None
    assert files["image.png"]["binary"] is True
    assert files["image.png"]["additions"] == 0


def test_files_past_the_size_caps_omit_their_content(
    git_repo: Path, worktree: Path, settings: Any
) -> None:
    settings.CONDUCTOR = {
        **settings.CONDUCTOR,
        "DIFF_FILE_MAX_BYTES": 1000,
        "DIFF_TOTAL_MAX_BYTES": 1500,
    }
    (worktree / "a-big.txt").write_text("x\n" * 600)
    (worktree / "b-fits.txt").write_text("y\n" * 400)
    (worktree / "c-over-total.txt").write_text("z\n" * 400)

    files = by_path(diff_of(git_repo, worktree))

    assert files["a-big.txt"]["content_omitted"] == "too_large"
    assert files["a-big.txt"]["new_content"] is None
    assert files["a-big.txt"]["additions"] == 600
    assert files["b-fits.txt"]["content_omitted"] is None
    assert files["b-fits.txt"]["new_content"] == "y\n" * 400
    assert files["c-over-total.txt"]["content_omitted"] == "too_large"


def test_a_symlink_is_its_target_string_never_what_it_points_at(
    git_repo: Path, worktree: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOKEN=do-not-leak\n")
    (worktree / "link").symlink_to(secret)
    (worktree / "dir-link").symlink_to(tmp_path)

    diff = diff_of(git_repo, worktree)

    files = by_path(diff)
    assert sorted(files) == ["dir-link", "link"]
    assert files["link"]["file_type"] == "symlink"
    assert files["link"]["new_content"] == str(secret)
    assert "do-not-leak" not in repr(diff)


def test_a_submodule_shows_its_commit(git_repo: Path, worktree: Path, tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    git_cli(library, "init", "-q", "-b", "main")
    (library / "lib.txt").write_text("lib\n")
    git_cli(library, "add", ".")
    git_cli(library, "-c", "user.name=L", "-c", "user.email=l@x", "commit", "-qm", "lib")
    commit = git_cli(library, "rev-parse", "HEAD").strip()
    git_cli(worktree, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library))

    files = by_path(diff_of(git_repo, worktree))

    assert files["library"]["file_type"] == "submodule"
    assert files["library"]["change"] == "added"
    assert files["library"]["new_content"] == f"Subproject commit {commit}\n"
    assert "lib.txt" not in files and "library/lib.txt" not in files


def test_stats_only_leaves_the_contents_out(git_repo: Path, worktree: Path) -> None:
    (worktree / "keep.txt").write_text("changed\n")

    diff = diff_of(git_repo, worktree, stats_only=True)

    (entry,) = diff["files"]
    assert "old_content" not in entry and "new_content" not in entry
    assert (entry["additions"], entry["deletions"], diff["stats_only"]) == (1, 3, True)


def test_it_leaves_the_worktree_and_its_index_untouched(git_repo: Path, worktree: Path) -> None:
    (worktree / "keep.txt").write_text("changed\n")
    (worktree / "half.txt").write_text("staged\n")
    git_cli(worktree, "add", "half.txt")
    (worktree / "new.txt").write_text("untracked\n")
    index = Path(git_cli(worktree, "rev-parse", "--git-path", "index").strip())
    status = git_cli(worktree, "status", "--porcelain")
    before = hashlib.sha256(index.read_bytes()).hexdigest()

    diff_of(git_repo, worktree)

    assert hashlib.sha256(index.read_bytes()).hexdigest() == before
    assert git_cli(worktree, "status", "--porcelain") == status


def test_a_worktree_whose_git_link_was_removed_is_refused(git_repo: Path, worktree: Path) -> None:
    (worktree / ".git").unlink()

    with pytest.raises(git.ForeignWorktree):
        diff_of(git_repo, worktree)


def test_a_target_with_no_merge_base_is_a_clear_git_error(git_repo: Path, worktree: Path) -> None:
    with pytest.raises(git.GitError, match="no-such-branch"):
        diffs.worktree_diff(str(git_repo), str(worktree), "no-such-branch")


def test_a_snapshot_is_stored_when_a_run_ends_and_answers_without_the_worktree(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile, git_repo: Path
) -> None:
    created = create_task(
        api, agent_type="fake-claude", prompt="Greet\nwrite hello.txt hello world\nsummary Hi"
    )
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)

    snapshot = DiffSnapshot.objects.get(attempt=attempt)
    assert snapshot.run_id == created["run_id"]
    assert (snapshot.files_changed, snapshot.additions) == (1, 1)
    assert snapshot.head_commit == git_cli(git_repo, "rev-parse", attempt.branch).strip()
    git.worktree_remove(git_repo, attempt.worktree_path)
    stored = diffs.snapshot_diff(Attempt.objects.get(id=attempt.id))
    assert stored is not None and stored["source"] == "snapshot"
    (entry,) = stored["files"]
    assert (entry["change"], entry["new_path"]) == ("added", "hello.txt")
    assert entry["new_content"] == "hello world\n"


def test_a_snapshot_read_stats_only_has_no_contents(
    work: str, api: APIClient, project: Project, git_repo: Path
) -> None:
    prompt = f"{sys.executable} -c \"open('a.txt', 'w').write('a' * 10)\""
    created = create_task(api, prompt=prompt)
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)

    stored = diffs.snapshot_diff(attempt, stats_only=True)

    assert stored is not None
    assert stored["totals"] == {"files": 1, "additions": 1, "deletions": 0}
    assert "new_content" not in stored["files"][0]


def test_only_the_latest_snapshot_keeps_its_contents(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile
) -> None:
    created = create_task(api, agent_type="fake-claude", prompt="write a.txt first\nsummary A")
    attempt_finished(run_finished(created["run_id"]).attempt_id)
    again = create_task(
        api, agent_type="fake-claude", prompt="write b.txt second\nsummary B", attach_mode="resume"
    )
    attempt = attempt_finished(run_finished(again["run_id"]).attempt_id)

    first, latest = DiffSnapshot.objects.filter(attempt=attempt).order_by("id")
    assert (first.files_changed, first.contents) == (1, [])
    assert latest.files_changed == 2
    assert [side["new"] for side in latest.contents] == ["first\n", "second\n"]
    stored = diffs.snapshot_diff(attempt)
    assert stored is not None and stored["head_commit"] == latest.head_commit


def test_paths_limit_the_diff_to_those_files_and_folders(git_repo: Path, worktree: Path) -> None:
    (worktree / "keep.txt").write_text("changed\n")
    (worktree / "gone.txt").unlink()
    (worktree / "dir").mkdir()
    (worktree / "dir" / "inner.txt").write_text("in\n")
    (worktree / "*.txt").write_text("a star, not a glob\n")
    (worktree / "--all").write_text("a name, not an option\n")
    paths = ["dir", "gone.txt", "*.txt", "--all", "never-existed.txt"]

    diff = diff_of(git_repo, worktree, paths=paths)

    assert {p: f["change"] for p, f in by_path(diff).items()} == {
        "dir/inner.txt": "added",
        "gone.txt": "deleted",
        "*.txt": "added",
        "--all": "added",
    }
    assert diff_of(git_repo, worktree, paths=[])["files"] == []


def test_paths_pair_a_rename_when_both_sides_are_given(git_repo: Path, worktree: Path) -> None:
    (worktree / "moved.txt").rename(worktree / "there.txt")

    both = diff_of(git_repo, worktree, paths=["moved.txt", "there.txt"])
    one = diff_of(git_repo, worktree, paths=["there.txt"])

    assert [(f["change"], f["old_path"]) for f in both["files"]] == [("renamed", "moved.txt")]
    assert [(f["change"], f["old_path"]) for f in one["files"]] == [("added", None)]


def test_ignored_names_the_paths_git_ignores_but_never_a_tracked_file(
    git_repo: Path, worktree: Path
) -> None:
    (worktree / ".gitignore").write_text("*.log\nkeep.txt\n")

    assert git.ignored(worktree, ["noise.log", "keep.txt", "new.txt", "build/x.log"]) == {
        "noise.log",
        "build/x.log",
    }
