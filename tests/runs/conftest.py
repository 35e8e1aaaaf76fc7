"""Fixtures the runs tests share: a real bare remote for the landing tests, the fake `gh`
(tests/fixtures/fake_gh) first on PATH, and a worktree root of the test's own."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES
from tests.helpers import git_cli


@dataclass(frozen=True)
class FakeGh:
    log: Path  # a JSON line per call
    state: Path  # its pull requests by branch, as JSON


@pytest.fixture
def remote(git_repo: Path, tmp_path: Path) -> Path:
    """A bare repository, the project repository's `origin`."""
    bare = tmp_path / "remote.git"
    git_cli(tmp_path, "init", "-q", "--bare", str(bare))
    git_cli(git_repo, "remote", "add", "origin", str(bare))
    return bare


@pytest.fixture
def fake_gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGh:
    """The fake `gh` first on PATH, with its call log and pull requests."""
    gh = FakeGh(log=tmp_path / "gh.log", state=tmp_path / "gh-state.json")
    monkeypatch.setenv("FAKE_GH_LOG", str(gh.log))
    monkeypatch.setenv("FAKE_GH_STATE", str(gh.state))
    monkeypatch.setenv("PATH", f"{FIXTURES / 'fake_gh'}{os.pathsep}{os.environ['PATH']}")
    return gh


@pytest.fixture
def worktree_root(settings: Any, tmp_path: Path) -> Path:
    """Worktrees of this test under their own root."""
    folder = tmp_path / "conductor-worktrees"
    settings.CONDUCTOR = {**settings.CONDUCTOR, "WORKTREE_ROOT": folder}
    return folder
