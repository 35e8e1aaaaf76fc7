"""Merging an attempt into its target (runs/landing.py) on real repositories: each strategy's
history, conflicts, a target that moved, and the user's own working tree."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs import landing, services
from runs.models import Attempt
from runs.workspace import WrongBranch
from tasks.models import Task
from tests.conftest import attempt_finished, create_task, run_finished
from tests.helpers import attempt_with_commits, commit_on, git_cli, parents, worktree_state

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture
def task(project: Project) -> Task:
    return Task.objects.create(
        project=project, task_id="greet", title="Add a greeting", prompt="greet", agent_type="shell"
    )


@pytest.fixture
def attempt(task: Task) -> Attempt:
    return attempt_with_commits(
        task,
        [{"hello.txt": "hello\n"}, {"hello.txt": "hello world\n", "docs/a.md": "a\n"}],
        summary="Added hello.txt\n\nIt greets the world.",
    )


def checkout_other_branch(repo: Path) -> None:
    git_cli(repo, "checkout", "-q", "-b", "elsewhere")


def test_it_squash_merges_into_one_commit_with_the_title_and_the_agents_summary(
    git_repo: Path, attempt: Attempt
) -> None:
    checkout_other_branch(git_repo)
    old = git_cli(git_repo, "rev-parse", "main").strip()

    merged = landing.attempt_merge(attempt.id)

    new = git_cli(git_repo, "rev-parse", "main").strip()
    assert (merged.commit, merged.previous, merged.strategy) == (new, old, "squash")
    assert parents(git_repo, new) == [old]
    assert git_cli(git_repo, "show", "main:hello.txt") == "hello world\n"
    assert git_cli(git_repo, "show", "main:docs/a.md") == "a\n"
    message = git_cli(git_repo, "log", "-1", "--format=%B", "main")
    assert message.startswith("Add a greeting\n\nAdded hello.txt\n\nIt greets the world.\n")
    assert f"Conductor-Attempt: {attempt.id}" in message
    attempt.refresh_from_db()
    assert (attempt.merge_commit, attempt.merge_strategy) == (new, "squash")
    assert attempt.merged_at is not None
    assert Task.objects.get(id=attempt.task_id).column == Task.Column.DONE


def test_the_merge_strategy_makes_a_merge_commit_with_both_parents(
    git_repo: Path, attempt: Attempt
) -> None:
    checkout_other_branch(git_repo)
    moved = commit_on(git_repo, "main", {"other.txt": "other\n"})
    head = git_cli(git_repo, "rev-parse", attempt.branch).strip()

    merged = landing.attempt_merge(attempt.id, strategy="merge")

    assert parents(git_repo, merged.commit) == [moved, head]
    graph = git_cli(git_repo, "log", "--graph", "--format=%s", "main")
    assert graph.splitlines()[0] == f"*   Merge branch '{attempt.branch}' into main"
    assert git_cli(git_repo, "show", "main:other.txt") == "other\n"
    assert git_cli(git_repo, "show", "main:hello.txt") == "hello world\n"


def test_the_rebase_strategy_replays_each_commit_on_the_moved_target_and_fast_forwards(
    git_repo: Path, attempt: Attempt
) -> None:
    checkout_other_branch(git_repo)
    moved = commit_on(git_repo, "main", {"other.txt": "other\n"})
    branch_commits = git_cli(git_repo, "log", "--format=%s|%an|%ae|%at", f"main..{attempt.branch}")

    merged = landing.attempt_merge(attempt.id, strategy="rebase")

    replayed = git_cli(git_repo, "log", "--format=%s|%an|%ae|%at", f"{moved}..main")
    assert replayed == branch_commits  # same messages, authors and author dates, same order
    assert git_cli(git_repo, "rev-list", "--merges", "main") == ""
    first, second = git_cli(git_repo, "rev-list", "--reverse", f"{moved}..main").split()
    assert parents(git_repo, first) == [moved] and parents(git_repo, second) == [first]
    assert merged.commit == second
    assert git_cli(git_repo, "show", "main:hello.txt") == "hello world\n"


def test_the_rebase_strategy_fast_forwards_when_the_target_has_not_moved(
    git_repo: Path, attempt: Attempt
) -> None:
    checkout_other_branch(git_repo)

    merged = landing.attempt_merge(attempt.id, strategy="rebase")

    assert merged.commit == git_cli(git_repo, "rev-parse", attempt.branch).strip()
    assert git_cli(git_repo, "rev-parse", "main").strip() == merged.commit


def test_conflicts_are_refused_with_the_files_and_gits_message_and_nothing_moves(
    git_repo: Path, attempt: Attempt
) -> None:
    checkout_other_branch(git_repo)
    moved = commit_on(git_repo, "main", {"hello.txt": "hallo\n"})

    for strategy in ("squash", "merge", "rebase"):
        with pytest.raises(landing.LandingConflict) as refused:
            landing.attempt_merge(attempt.id, strategy=strategy)
        assert refused.value.status_code == 409
        assert refused.value.details["conflicted_files"] == ["hello.txt"]
        assert "CONFLICT" in refused.value.details["git"]
        assert "hello.txt" in refused.value.message
    assert git_cli(git_repo, "rev-parse", "main").strip() == moved
    attempt.refresh_from_db()
    assert attempt.merge_commit == "" and attempt.operation == ""


def test_a_target_checked_out_and_clean_in_the_users_tree_is_merged_and_the_tree_updated(
    git_repo: Path, attempt: Attempt
) -> None:
    (git_repo / "notes.txt").write_text("my untracked notes\n")

    merged = landing.attempt_merge(attempt.id)

    assert merged.updated_worktree == str(git_repo)
    assert git_cli(git_repo, "rev-parse", "HEAD").strip() == merged.commit
    assert git_cli(git_repo, "branch", "--show-current").strip() == "main"
    assert (git_repo / "hello.txt").read_text() == "hello world\n"
    assert git_cli(git_repo, "status", "--porcelain") == "?? notes.txt\n"
    assert (git_repo / "notes.txt").read_text() == "my untracked notes\n"


def test_a_file_only_touched_in_the_users_tree_does_not_make_it_dirty(
    git_repo: Path, task: Task
) -> None:
    """`status` compares contents and finds the tree clean; `read-tree -m -u` compares the
    index's stat data, and refused ('not uptodate') before the index was refreshed."""
    attempt = attempt_with_commits(task, [{"README.md": "# demo, greeted\n"}])
    os.utime(git_repo / "README.md", (1_000_000_000, 1_000_000_000))  # same bytes, new times

    merged = landing.attempt_merge(attempt.id)

    assert merged.updated_worktree == str(git_repo)
    assert git_cli(git_repo, "rev-parse", "HEAD").strip() == merged.commit
    assert (git_repo / "README.md").read_text() == "# demo, greeted\n"
    assert git_cli(git_repo, "status", "--porcelain") == ""


def test_a_target_checked_out_in_a_dirty_users_tree_is_refused_and_the_tree_untouched(
    git_repo: Path, attempt: Attempt
) -> None:
    (git_repo / "README.md").write_text("# my edit, not committed\n")
    (git_repo / "scratch.txt").write_text("untracked\n")
    before = worktree_state(git_repo)

    with pytest.raises(landing.LandingConflict) as refused:
        landing.attempt_merge(attempt.id)

    assert refused.value.details["reason"] == "dirty"
    assert (
        "commit or stash them" in refused.value.message and str(git_repo) in refused.value.message
    )
    assert worktree_state(git_repo) == before
    assert Task.objects.get(id=attempt.task_id).column != Task.Column.DONE


def test_a_target_being_rebased_in_the_users_tree_is_refused_until_the_rebase_ends(
    git_repo: Path, attempt: Attempt, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user is in the middle of `git rebase -i main~1` on main, stopped at an `edit`:
    main is not checked out there (HEAD is detached), but the rebase will move main when it
    finishes, and fails if main moved meanwhile."""
    (git_repo / "mine.txt").write_text("mine\n")
    git_cli(git_repo, "add", "mine.txt")
    git_cli(git_repo, "commit", "-qm", "mine")
    monkeypatch.setenv("GIT_SEQUENCE_EDITOR", "sed -i 1s/^pick/edit/")
    git_cli(git_repo, "rebase", "-i", "-q", "main~1")
    main = git_cli(git_repo, "rev-parse", "main")

    with pytest.raises(landing.LandingConflict) as refused:
        landing.attempt_merge(attempt.id)

    assert refused.value.details["reason"] == "in_progress"
    assert f"main is being rebased in {git_repo}" in refused.value.message
    assert "git rebase --continue" in refused.value.message
    assert git_cli(git_repo, "rev-parse", "main") == main
    assert Attempt.objects.get(id=attempt.id).merge_commit == ""
    git_cli(git_repo, "rebase", "--abort")
    merged = landing.attempt_merge(attempt.id)
    assert git_cli(git_repo, "rev-parse", "main").strip() == merged.commit
    assert parents(git_repo, merged.commit) == [main.strip()]
    assert (git_repo / "hello.txt").read_text() == "hello world\n"


def test_uncommitted_changes_in_the_attempts_worktree_refuse_the_merge_until_committed(
    git_repo: Path, attempt: Attempt
) -> None:
    """The review shows the worktree (HEAD and what is uncommitted); the merge takes the
    branch. The user fixed a line in the worktree and left a new file there."""
    checkout_other_branch(git_repo)
    worktree = Path(attempt.worktree_path)
    (worktree / "hello.txt").write_text("hello, world\n")
    (worktree / "NOTES.md").write_text("new\n")
    main, before = git_cli(git_repo, "rev-parse", "main"), worktree_state(worktree)

    for strategy in ("squash", "merge", "rebase"):
        with pytest.raises(landing.LandingConflict) as refused:
            landing.attempt_merge(attempt.id, strategy=strategy)
        assert refused.value.details["reason"] == "dirty"
        assert refused.value.details["files"] == ["hello.txt", "NOTES.md"]
        assert "hello.txt, NOTES.md" in refused.value.message
        assert f"git -C {worktree} commit" in refused.value.message
    assert git_cli(git_repo, "rev-parse", "main") == main
    assert worktree_state(worktree) == before
    assert Attempt.objects.get(id=attempt.id).merge_commit == ""
    git_cli(worktree, "add", "--all")
    git_cli(worktree, "commit", "-qm", "the user's fix")
    landing.attempt_merge(attempt.id)
    assert git_cli(git_repo, "show", "main:hello.txt") == "hello, world\n"
    assert git_cli(git_repo, "show", "main:NOTES.md") == "new\n"


def test_a_worktree_left_on_another_branch_refuses_the_merge(
    git_repo: Path, attempt: Attempt
) -> None:
    """The agent checked out a branch of its own there and committed: the review shows that
    branch's work, the merge would take the attempt's branch without it."""
    checkout_other_branch(git_repo)
    worktree = Path(attempt.worktree_path)
    git_cli(worktree, "checkout", "-q", "-b", "side")
    (worktree / "side.txt").write_text("side\n")
    git_cli(worktree, "add", "side.txt")
    git_cli(worktree, "commit", "-qm", "on side")
    main = git_cli(git_repo, "rev-parse", "main")

    with pytest.raises(WrongBranch) as refused:
        landing.attempt_merge(attempt.id)

    assert refused.value.details["reason"] == "wrong_branch"
    assert refused.value.details["branch"] == "side"
    assert git_cli(git_repo, "rev-parse", "main") == main


def test_ignored_files_in_the_attempts_worktree_do_not_refuse_the_merge(
    git_repo: Path, attempt: Attempt
) -> None:
    checkout_other_branch(git_repo)
    (git_repo / ".git" / "info" / "exclude").write_text("node_modules/\n")
    (Path(attempt.worktree_path) / "node_modules").mkdir()
    (Path(attempt.worktree_path) / "node_modules" / "x.js").write_text("x\n")

    merged = landing.attempt_merge(attempt.id)

    assert git_cli(git_repo, "rev-parse", "main").strip() == merged.commit


def test_a_worktree_that_is_no_longer_conductors_is_not_looked_at(
    git_repo: Path, attempt: Attempt
) -> None:
    """The agent deleted its worktree's `.git`: what is in the folder is nobody's branch."""
    checkout_other_branch(git_repo)
    (Path(attempt.worktree_path) / ".git").unlink()
    (Path(attempt.worktree_path) / "left.txt").write_text("left\n")

    merged = landing.attempt_merge(attempt.id)

    assert git_cli(git_repo, "show", "main:hello.txt") == "hello world\n"
    assert git_cli(git_repo, "rev-parse", "main").strip() == merged.commit


def test_a_rebase_stopped_in_the_attempts_worktree_refuses_the_merge(
    git_repo: Path, attempt: Attempt
) -> None:
    """The branch's first commit conflicts with main, its end result does not: the merge
    alone would succeed, with the branch as it was before the rebase."""
    checkout_other_branch(git_repo)
    moved = commit_on(git_repo, "main", {"hello.txt": "hello world\n"})
    with pytest.raises(landing.LandingConflict, match="stopped on conflicts"):
        landing.attempt_rebase(attempt.id)

    with pytest.raises(landing.LandingConflict) as refused:
        landing.attempt_merge(attempt.id, strategy="merge")

    assert refused.value.details["reason"] == "in_progress"
    assert "a rebase is in progress in the attempt's worktree" in refused.value.message
    assert git_cli(git_repo, "rev-parse", "main").strip() == moved


def test_every_operation_leaves_a_dirty_users_tree_on_another_branch_byte_for_byte_untouched(
    git_repo: Path, attempt: Attempt, tmp_path: Path
) -> None:
    checkout_other_branch(git_repo)
    (git_repo / ".gitignore").write_text(".env\n")
    (git_repo / ".env").write_text("SECRET=1\n")
    (git_repo / "README.md").write_text("# edited\n")
    git_cli(git_repo, "add", "README.md")
    (git_repo / "README.md").write_text("# edited twice\n")
    (git_repo / "untracked.txt").write_text("u\n")
    bare = tmp_path / "remote.git"
    git_cli(tmp_path, "init", "-q", "--bare", str(bare))
    git_cli(git_repo, "remote", "add", "origin", str(bare))
    before = worktree_state(git_repo)
    index = (git_repo / ".git" / "index").read_bytes()

    landing.attempt_push(attempt.id)
    commit_on(git_repo, "main", {"hello.txt": "hallo\n"})
    for strategy in ("squash", "merge", "rebase"):
        with pytest.raises(landing.LandingConflict, match="conflicts"):
            landing.attempt_merge(attempt.id, strategy=strategy)
    with pytest.raises(landing.LandingConflict, match="conflicts"):
        landing.attempt_rebase(attempt.id)
    landing.attempt_conflicts_abort(attempt.id)
    with pytest.raises(landing.LandingConflict, match="conflicts"):
        landing.attempt_rebase(attempt.id)
    with pytest.raises(landing.LandingConflict, match="conflict markers"):
        landing.attempt_rebase_continue(attempt.id)
    Path(attempt.worktree_path, "hello.txt").write_text("hallo\n")
    with pytest.raises(landing.LandingConflict, match=r"stopped on conflicts in hello\.txt"):
        landing.attempt_rebase_continue(attempt.id)  # the branch's second commit
    Path(attempt.worktree_path, "hello.txt").write_text("hallo world\n")
    landing.attempt_rebase_continue(attempt.id)
    landing.attempt_push(attempt.id, force=True)
    landing.attempt_merge(attempt.id, strategy="merge")

    assert worktree_state(git_repo) == before
    assert (git_repo / ".git" / "index").read_bytes() == index


def test_an_ignored_file_the_merge_would_overwrite_refuses_the_merge(
    git_repo: Path, task: Task
) -> None:
    (git_repo / ".git" / "info" / "exclude").write_text("config.local\n")
    (git_repo / "config.local").write_text("the user's own\n")
    attempt = attempt_with_commits(task, [{"x.txt": "x\n"}])
    Path(attempt.worktree_path, "config.local").write_text("the agent's\n")
    git_cli(attempt.worktree_path, "add", "-f", "config.local")
    git_cli(attempt.worktree_path, "commit", "-qm", "force-add config.local")
    before = worktree_state(git_repo)

    with pytest.raises(landing.LandingConflict, match=r"config\.local"):
        landing.attempt_merge(attempt.id)

    assert worktree_state(git_repo) == before


def test_a_target_moved_while_the_merge_was_computed_is_refused_not_clobbered(
    git_repo: Path, attempt: Attempt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real git, with someone committing to main just before Conductor's `update-ref`."""
    checkout_other_branch(git_repo)
    monkeypatch.setenv("REAL_GIT", shutil.which("git") or "git")
    monkeypatch.setenv("RACE_REF", "refs/heads/main")
    monkeypatch.setenv("RACE_DONE", str(tmp_path / "raced"))
    monkeypatch.setenv("PATH", f"{FIXTURES / 'racing_git'}{os.pathsep}{os.environ['PATH']}")

    with pytest.raises(landing.LandingConflict) as refused:
        landing.attempt_merge(attempt.id)

    assert refused.value.details["reason"] == "target_moved"
    assert git_cli(git_repo, "log", "-1", "--format=%s", "main") == "raced\n"
    assert not landing.Attempt.objects.get(id=attempt.id).merge_commit


def test_a_target_moved_since_review_is_refused_then_rebased_and_merged(
    git_repo: Path, attempt: Attempt
) -> None:
    checkout_other_branch(git_repo)
    reviewed = git_cli(git_repo, "rev-parse", "main").strip()
    moved = commit_on(git_repo, "main", {"other.txt": "other\n"})

    with pytest.raises(landing.LandingConflict) as refused:
        landing.attempt_merge(attempt.id, expected=reviewed)
    assert refused.value.details == {"reason": "target_moved", "target_commit": moved}

    rebased = landing.attempt_rebase(attempt.id)
    merged = landing.attempt_merge(attempt.id, expected=moved)

    assert rebased.onto == moved
    assert parents(git_repo, merged.commit) == [moved]
    assert git_cli(git_repo, "show", "main:other.txt") == "other\n"
    assert git_cli(git_repo, "show", "main:hello.txt") == "hello world\n"


def test_merging_twice_is_refused_as_nothing_to_merge(git_repo: Path, attempt: Attempt) -> None:
    checkout_other_branch(git_repo)
    landing.attempt_merge(attempt.id)

    with pytest.raises(landing.LandingConflict) as refused:
        landing.attempt_merge(attempt.id)

    assert refused.value.details["reason"] == "nothing_to_merge"


def test_refusals_say_what_is_wrong(git_repo: Path, attempt: Attempt, task: Task) -> None:
    with pytest.raises(landing.LandingRefused, match="unknown strategy"):
        landing.attempt_merge(attempt.id, strategy="octopus")
    Attempt.objects.filter(id=attempt.id).update(target_branch="gone")
    with pytest.raises(landing.LandingRefused, match="'gone' does not exist"):
        landing.attempt_merge(attempt.id)
    unstarted = Attempt.objects.create(task=task, agent="shell", status="failed")
    with pytest.raises(landing.LandingRefused, match="has no branch"):
        landing.attempt_merge(unstarted.id)
    with pytest.raises(services.AttemptNotFound):
        landing.attempt_merge("att-nope")


def test_an_agents_real_attempt_squash_merges_with_its_final_message(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile, git_repo: Path
) -> None:
    created = create_task(
        api,
        agent_type="fake-claude",
        prompt="Add a greeting\nwrite hello.txt hello world\nsummary Wrote hello.txt for you",
    )
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)
    assert attempt.status == "success", attempt.error_summary

    merged = landing.attempt_merge(attempt.id)

    task = Task.objects.get(id=attempt.task_id)
    message = git_cli(git_repo, "log", "-1", "--format=%B", "main")
    assert message.startswith(f"{task.title}\n\nWrote hello.txt for you\n")
    assert (git_repo / "hello.txt").read_text() == "hello world\n"
    assert git_cli(git_repo, "rev-parse", "HEAD").strip() == merged.commit
    assert task.column == Task.Column.DONE


def test_a_users_tree_that_cannot_be_updated_gets_the_target_back(
    git_repo: Path, attempt: Attempt
) -> None:
    """The user's own git holds the index (index.lock) while Conductor merges."""
    (git_repo / ".git" / "index.lock").write_text("")
    main = git_cli(git_repo, "rev-parse", "main")
    before = worktree_state(git_repo)

    with pytest.raises(landing.LandingConflict, match="so the merge was undone") as refused:
        landing.attempt_merge(attempt.id)

    assert "index.lock" in refused.value.details["git"]
    assert git_cli(git_repo, "rev-parse", "main") == main
    assert worktree_state(git_repo) == before
    assert Attempt.objects.get(id=attempt.id).merge_commit == ""


def test_a_git_failure_is_a_conflict_with_gits_own_words(
    git_repo: Path, attempt: Attempt, tmp_path: Path
) -> None:
    git_repo.rename(tmp_path / "moved-away")

    with pytest.raises(landing.LandingConflict) as refused:
        landing.attempt_merge(attempt.id)

    assert refused.value.details["reason"] == "git"
    assert "cannot change to" in refused.value.details["git"]
    assert Attempt.objects.get(id=attempt.id).operation == ""


def test_the_rebase_strategy_drops_a_commit_the_target_already_has(
    git_repo: Path, task: Task
) -> None:
    checkout_other_branch(git_repo)
    attempt = attempt_with_commits(task, [{"other.txt": "same\n"}, {"hello.txt": "hi\n"}])
    moved = commit_on(git_repo, "main", {"other.txt": "same\n"})

    merged = landing.attempt_merge(attempt.id, strategy="rebase")

    assert parents(git_repo, merged.commit) == [moved]
    assert git_cli(git_repo, "log", "-1", "--format=%s", "main") == "Step 2\n"


def test_the_rebase_strategy_refuses_a_branch_with_a_merge_commit(
    git_repo: Path, attempt: Attempt
) -> None:
    checkout_other_branch(git_repo)
    worktree = attempt.worktree_path
    git_cli(worktree, "checkout", "-q", "-b", "side")
    Path(worktree, "side.txt").write_text("side\n")
    git_cli(worktree, "add", "side.txt")
    git_cli(worktree, "commit", "-qm", "side")
    git_cli(worktree, "checkout", "-q", attempt.branch)
    git_cli(worktree, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    main = commit_on(git_repo, "main", {"other.txt": "other\n"})  # so commits must be replayed

    with pytest.raises(landing.LandingRefused, match="has a merge commit"):
        landing.attempt_merge(attempt.id, strategy="rebase")

    assert git_cli(git_repo, "rev-parse", "main").strip() == main
    assert landing.attempt_merge(attempt.id, strategy="merge").commit
