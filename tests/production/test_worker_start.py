"""Starting `conductor worker`: it warns when a git work tree holds its data dir."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import git_cli
from tests.processes import ConductorProcess

pytestmark = pytest.mark.production


def test_a_worker_warns_when_its_data_dir_is_inside_a_git_work_tree(
    start_worker: Callable[..., ConductorProcess], settings: Any, tmp_path: Path
) -> None:
    repo = tmp_path / "dotfiles"
    repo.mkdir()
    git_cli(repo, "init", "-q")
    settings.DATA_DIR = repo / ".conductor"
    settings.DATA_DIR.mkdir()

    worker = start_worker()

    assert f"the data dir {repo / '.conductor'} is inside the git work tree {repo}" in (
        worker.output()
    )
