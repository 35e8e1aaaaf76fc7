"""What one attempt asks git, call by call (issue 8 §1: each git process is 5 to 15 ms of a
run's fixed cost on a loaded box): HEAD before the agent is the worktree's base commit when
nothing ran in it yet, the repository's git dir is looked up once for the run's worktree
checks, a clean tree's state and HEAD come from one `git status`; and the worktree check
still comes right before the commit. Then the run's diff snapshot (issue 9): five calls, two
more to read the contents of what changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects import git
from projects.models import Project
from runs.models import Run
from tests.conftest import attempt_finished, create_task, run_finished

WORKSPACE = [
    "rev-parse --is-inside-work-tree",  # the project has a repository
    "symbolic-ref --quiet",  # its checked-out branch is the base
    "rev-parse --verify",  # the commit the base names
    "rev-parse --git-common-dir",  # the repository's worktree lock
    "rev-parse --verify",  # the branch is new
    "worktree add",
]
CHECK = "rev-parse --show-toplevel"


# The diff snapshot stored when the run ends (runs/diffs.py): the check, HEAD and the index,
# the merge-base with the target, the staging into a throwaway index, the diff itself.
SNAPSHOT = [
    CHECK,
    "rev-parse HEAD",
    "merge-base",
    "add --all",
    "diff --cached",
]


def git_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The first two words of every git command from now on, past its `-c <name>=<value>`
    options (`git()` runs them through `git_bytes()`, as the commands whose output is
    bytes); each still runs."""
    calls: list[str] = []
    real: Callable[..., bytes] = git.git_bytes

    def spy(repo: Any, *args: str, **kwargs: Any) -> bytes:
        words = list(args)
        while words[:1] == ["-c"]:
            words = words[2:]
        calls.append(" ".join(words[:2]))
        return real(repo, *args, **kwargs)

    monkeypatch.setattr(git, "git_bytes", spy)
    return calls


def finished(api: APIClient, prompt: str) -> Run:
    run = run_finished(create_task(api, prompt=prompt)["run_id"])
    attempt_finished(run.attempt_id)
    run.refresh_from_db()
    assert run.status == "success", run.error_summary
    return run


def test_a_run_that_changes_nothing_asks_git_fourteen_times(
    work: str, api: APIClient, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = git_calls(monkeypatch)

    run = finished(api, "echo looked around")

    assert calls == [
        *WORKSPACE,
        "rev-parse --git-common-dir",  # once for the run's checks
        CHECK,  # after the agent: is the worktree still ours?
        CHECK,  # before reading its state
        "status --porcelain=v2",  # clean, and HEAD
        *SNAPSHOT,  # an empty diff: no contents to read
    ]
    assert run.head_before == run.head_after == run.attempt.base_commit != ""


def test_a_run_that_changes_files_is_checked_right_before_its_commit(
    work: str, api: APIClient, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = git_calls(monkeypatch)

    run = finished(api, "echo hello > hello.txt")

    assert calls[len(WORKSPACE) :] == [
        "rev-parse --git-common-dir",
        CHECK,
        CHECK,
        "status --porcelain=v2",
        CHECK,  # commit_all's own check, right before it stages anything
        "add --all",
        "config user.email",
        "commit --quiet",
        "rev-parse HEAD",
        *SNAPSHOT,
        "cat-file --batch-check",  # the sizes of hello.txt's blobs
        "cat-file --batch",  # their contents
    ]
    assert run.head_before == run.attempt.base_commit != run.head_after


def test_after_a_setup_script_head_is_asked_of_git(
    work: str, api: APIClient, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.setup_script = "git -c user.name=s -c user.email=s@s commit -q --allow-empty -m setup"
    project.save()
    calls = git_calls(monkeypatch)

    run = finished(api, "echo after setup")

    assert "rev-parse HEAD" in calls
    assert run.head_before == run.head_after != run.attempt.base_commit
