"""Landing an attempt: merge its branch into its target, rebase it, push it, open its PR;
and the branch itself: change its target, rename it.

Merges never need a working tree (shared/DESIGN.md §6): `git merge-tree --write-tree`
computes the result and its conflicts, `commit-tree` makes the commit, and
`update-ref <target> <new> <old>` moves the target only if nobody moved it meanwhile. A target
checked out in a working tree (the user's own, or any other) is merged only when that tree has
no changes to tracked files, and that tree is then brought up to date with `read-tree -m -u`,
which refuses rather than overwrite anything; if it refuses, the target goes back. A target
being rebased in a working tree (a rebase stopped there, its HEAD detached) is not merged into
at all. Rebases run inside the attempt's own worktree, which is Conductor's. A merge, push or
pull request takes the branch, not the worktree the review shows, so none runs while that
worktree holds uncommitted changes or a stopped rebase.

A merged attempt's worktree is then archived on its owner (`runs.archive`), unless
`CONDUCTOR_REMOVE_WORKTREE_AFTER_MERGE` is off.

Every operation holds the attempt's one operation slot (`services.attempt_operation_begin`, a
conditional update in the database), so two at once, from any processes, give one winner and
one `AttemptBusy`. Every refusal and every git failure is a `DomainError` (400: not possible as
asked; 409: the repository's or attempt's state is in the way) carrying git's own message.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from conductor_site.errors import DomainError
from projects import git, github
from runs import services
from runs.files import run_file_text
from runs.models import Attempt, MergeStrategy, Run
from runs.tasks import enqueue_worktree_archive, remove_worktree_after_merge
from runs.workspace import branch_check


class LandingRefused(DomainError):
    """Not possible as asked (no repository, no branch, an unknown strategy, no `gh`)."""

    status_code = 400


class LandingConflict(DomainError):
    """The state of the repository or of the attempt is in the way; `details.reason` says
    which (`conflicts`, `target_moved`, `dirty`, `nothing_to_merge`, `in_progress`,
    `remote_moved`, `git`)."""

    status_code = 409


class AttemptBusy(LandingConflict):
    """Another operation, or a run, holds the attempt."""


@dataclass(frozen=True)
class Merged:
    strategy: str
    commit: str  # the target's new commit
    previous: str  # the target's commit before
    target: str
    updated_worktree: str  # the working tree brought up to date ("" when none had it out)


@dataclass(frozen=True)
class Rebased:
    head: str
    onto: str


@dataclass(frozen=True)
class Pushed:
    remote: str
    branch: str
    commit: str


# Merging


def attempt_merge(
    attempt_id: str, *, strategy: str = MergeStrategy.SQUASH, message: str = "", expected: str = ""
) -> Merged:
    """Merge the attempt's branch into its target. `message` replaces the one made from the
    task; `expected`, the target commit the user reviewed, refuses if the target moved since."""
    if strategy not in MergeStrategy.values:
        choices = ", ".join(MergeStrategy.values)
        raise LandingRefused(f"unknown strategy {strategy!r}: use one of {choices}")
    with attempt_operation(attempt_id, "merge") as attempt:
        repo, old, head = _merge_inputs(attempt, expected)
        _refuse_work_not_on_branch(attempt, "merge")
        checkout = _checkout_of(repo, attempt.target_branch)
        new = _STRATEGIES[strategy](attempt, repo, old, head, message)
        _target_move(repo, attempt, old, new, checkout)
        services.attempt_merged(attempt, commit=new, strategy=strategy)
    if remove_worktree_after_merge() and attempt.worktree_path:
        enqueue_worktree_archive(attempt, "merged")  # once the merge's slot is free
    return Merged(strategy, new, old, attempt.target_branch, checkout.path if checkout else "")


def _merge_inputs(attempt: Attempt, expected: str) -> tuple[str, str, str]:
    """The repository, the target's commit and the branch's, once merging makes sense."""
    repo = _repository(attempt)
    target, branch = attempt.target_branch, attempt.branch
    if target == branch:
        raise LandingRefused(f"the attempt's branch {branch} is its own target")
    old, head = git.objects_of(repo, [_ref(target), _ref(branch)])
    if not old:
        raise LandingRefused(
            f"the target branch {target!r} does not exist: change the attempt's target branch"
        )
    if not head:
        raise LandingRefused(f"the attempt's branch {branch!r} does not exist any more")
    if expected and expected != old:
        raise LandingConflict(
            f"{target} moved to {old} since {expected} was reviewed: review again, then merge",
            reason="target_moved",
            target_commit=old,
        )
    return repo, old, head


def _refuse_work_not_on_branch(attempt: Attempt, operation: str) -> None:
    """What the review shows is the attempt's worktree: its HEAD and what is uncommitted
    there. A merge, push or pull request takes the branch alone, so each is refused while
    the worktree holds more or other (a line the user fixed there, a commit the pipeline
    could not make, another branch the agent checked out): it would land less than was
    reviewed, and a merge's archive would then commit
    the rest on the branch as WIP, after the merge. An archived worktree holds nothing; a
    folder that is no longer Conductor's worktree holds nothing of the attempt's."""
    path = _reviewed_worktree(attempt)
    if not path:
        return
    branch_check(path, attempt.branch)  # the agent left another branch checked out there
    if stopped := git.operation_in_progress(path):
        raise LandingConflict(
            f"a {stopped} is in progress in the attempt's worktree {path}: continue or abort "
            f"it, then {operation} again; nothing was changed",
            reason="in_progress",
            path=path,
        )
    if changed := git.changed_paths(path):
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        raise LandingConflict(
            f"the attempt's worktree {path} has uncommitted changes ({', '.join(changed[:5])}"
            f"{more}) that are not on its branch: commit them (a follow-up does, or "
            f"git -C {path} add -A, then git -C {path} commit) or discard them, then "
            f"{operation} again; nothing was changed",
            reason="dirty",
            path=path,
            files=changed[:50],
        )


def _reviewed_worktree(attempt: Attempt) -> str:
    """The attempt's worktree while it is here and Conductor's, else ''."""
    path = attempt.worktree_path
    if not path or attempt.worktree_archived_at is not None or not os.path.isdir(path):
        return ""
    try:
        git.worktree_check(_repository(attempt), path)
    except git.ForeignWorktree:
        return ""
    return path


def _nothing_to_merge(attempt: Attempt) -> NoReturn:
    raise LandingConflict(
        f"nothing to merge: {attempt.target_branch} already has the changes of {attempt.branch}",
        reason="nothing_to_merge",
    )


def _squash(attempt: Attempt, repo: str, old: str, head: str, message: str) -> str:
    merged = _merge_or_refuse(repo, old, head, attempt)
    if merged.tree == git.tree_of(repo, old):
        _nothing_to_merge(attempt)
    return git.commit_tree(repo, merged.tree, [old], message or squash_message(attempt))


def _merge_commit(attempt: Attempt, repo: str, old: str, head: str, message: str) -> str:
    merged = _merge_or_refuse(repo, old, head, attempt)
    if merged.tree == git.tree_of(repo, old):
        _nothing_to_merge(attempt)
    subject = f"Merge branch '{attempt.branch}' into {attempt.target_branch}"
    default = f"{subject}\n\n{squash_message(attempt)}"
    return git.commit_tree(repo, merged.tree, [old, head], message or default)


def _rebase_ff(attempt: Attempt, repo: str, old: str, head: str, message: str) -> str:
    """The branch's commits replayed on the target one by one (authors and messages kept,
    commits that become empty dropped), then fast-forwarded; `message` does not apply."""
    if head != old and git.is_ancestor(repo, old, head):
        return head  # nothing to replay: a plain fast-forward
    onto = old
    for line in git.commits_to_replay(repo, old, head):
        commit, *parents = line.split()
        if len(parents) > 1:
            raise LandingRefused(
                f"{attempt.branch} has a merge commit ({commit}), which a rebase cannot "
                "replay: merge with the squash or merge strategy"
            )
        picked = git.cherry_pick_tree(repo, commit, onto)
        if picked.conflicts:
            _conflicts(picked, f"commit {commit} conflicts with {attempt.target_branch}")
        if picked.tree != git.tree_of(repo, onto):
            info = git.commit_info(repo, commit)
            onto = git.commit_tree(repo, picked.tree, [onto], info.message, info.author)
    if onto == old:
        _nothing_to_merge(attempt)
    return onto


_STRATEGIES: dict[str, Callable[[Attempt, str, str, str, str], str]] = {
    MergeStrategy.SQUASH: _squash,
    MergeStrategy.MERGE: _merge_commit,
    MergeStrategy.REBASE: _rebase_ff,
}


def _merge_or_refuse(repo: str, old: str, head: str, attempt: Attempt) -> git.MergeResult:
    merged = git.merge_tree(repo, old, head)
    if merged.conflicts:
        _conflicts(merged, f"{attempt.branch} conflicts with {attempt.target_branch}")
    return merged


def _conflicts(merged: git.MergeResult, what: str) -> NoReturn:
    files = ", ".join(merged.conflicts)
    raise LandingConflict(
        f"{what} in {files}: rebase the attempt onto its target and resolve them, then merge",
        reason="conflicts",
        conflicted_files=merged.conflicts,
        git=merged.messages,
    )


def squash_message(attempt: Attempt) -> str:
    """The task's title, then the agent's summary (the last agent run's final message)."""
    task = attempt.task
    title = (task.title or task.task_id).strip().splitlines()[0][:72]
    run = attempt.runs.filter(kind=Run.Kind.AGENT).order_by("-created_at").first()
    summary = (run_file_text(run, "output.md") or "").strip() if run else ""
    parts = [title, summary, f"Conductor-Attempt: {attempt.id}"]
    return "\n\n".join(part for part in parts if part) + "\n"


def _checkout_of(repo: str, target: str) -> git.Worktree | None:
    """The working tree that has the target checked out, once it is safe to update."""
    trees = [tree for tree in git.worktrees(repo) if not tree.prunable]
    for tree in trees:
        if not tree.branch and git.branch_being_rebased(tree.path) == target:
            _refuse_rebase_of_target(tree, target)
    checkout = next((tree for tree in trees if tree.branch == target), None)
    if checkout:
        _refuse_unsafe_checkout(checkout, target)
    return checkout


def _refuse_rebase_of_target(tree: git.Worktree, target: str) -> NoReturn:
    """A rebase of the target stopped in a tree (its HEAD detached, so no tree names the
    target) is a checkout of the target with a rebase in progress: finishing it moves the
    target, and fails if the target moved meanwhile; aborting it puts the target back to
    where the rebase started, undoing the merge without a word."""
    raise LandingConflict(
        f"the target branch {target} is being rebased in {tree.path}: finish the rebase "
        "there (git rebase --continue) or abort it (git rebase --abort), then merge again; "
        "nothing was changed",
        reason="in_progress",
        path=tree.path,
    )


def _refuse_unsafe_checkout(tree: git.Worktree, target: str) -> None:
    """The tree that has the target checked out is brought up to date by the merge: not
    while an operation is stopped there, nor with uncommitted changes to tracked files."""
    where = f"the target branch {target} is checked out in {tree.path}"
    if operation := git.operation_in_progress(tree.path):
        raise LandingConflict(
            f"{where}, where a {operation} is in progress: finish or abort it there, "
            "then merge again; nothing was changed",
            reason="in_progress",
        )
    if changes := git.tracked_changes(tree.path):
        raise LandingConflict(
            f"{where}, which has uncommitted changes: commit or stash them there (or "
            "check out another branch there), then merge again; nothing was changed",
            reason="dirty",
            path=tree.path,
            changes=changes[:50],
        )


def _target_move(
    repo: str, attempt: Attempt, old: str, new: str, checkout: git.Worktree | None
) -> None:
    """Move the target from `old` to `new`, and the working tree that has it checked out."""
    ref, reason = _ref(attempt.target_branch), f"conductor: merge attempt {attempt.id}"
    if checkout:
        _refuse_overwrites(repo, checkout.path, old, new)
    try:
        git.ref_update(repo, ref, new, old, reason)
    except git.RefMoved as exc:
        raise LandingConflict(
            f"{attempt.target_branch} moved while the merge was computed: merge again",
            reason="target_moved",
            git=str(exc),
        ) from exc
    if checkout:
        try:
            git.tree_advance(checkout.path, old, new)
        except git.GitError as exc:
            git.ref_update(repo, ref, old, new, f"conductor: merge of attempt {attempt.id} undone")
            raise LandingConflict(
                f"{checkout.path} could not be brought up to date, so the merge was undone: "
                "commit or move what is in the way there, then merge again",
                reason="dirty",
                git=str(exc),
            ) from exc


def _refuse_overwrites(repo: str, folder: str, old: str, new: str) -> None:
    """Files the merge adds where the working tree has an untracked or ignored one of the same
    name: git would overwrite an ignored file (`.env`), Conductor does not."""
    found = [
        path for path in git.paths_added(repo, old, new) if os.path.lexists(Path(folder, path))
    ]
    if found:
        raise LandingConflict(
            f"the merge adds {', '.join(found[:10])}, which {folder} already has as an "
            "untracked or ignored file: move it away there, then merge again; nothing was changed",
            reason="dirty",
            paths=found,
        )


# Rebasing in the attempt's worktree


def attempt_rebase(attempt_id: str) -> Rebased:
    """Rebase the attempt's branch onto its target, in its worktree. On conflicts the rebase
    stays in progress for the user (or an agent) to resolve: `attempt_rebase_continue`,
    or `attempt_conflicts_abort`."""
    with attempt_operation(attempt_id, "rebase") as attempt:
        repo, path = _repository(attempt), attempt_worktree(attempt)
        if operation := git.operation_in_progress(path):
            raise LandingConflict(
                f"a {operation} is already in progress in {path}: continue or abort it",
                reason="in_progress",
                op=operation,
            )
        if git.is_dirty(path):
            raise LandingConflict(
                f"the worktree {path} has uncommitted changes: commit them (a follow-up "
                "does) or discard them, then rebase",
                reason="dirty",
            )
        onto = git.commit_of(repo, _ref(attempt.target_branch))
        _rebase_step(path, lambda: git.rebase(path, onto))
        services.attempt_rebased(attempt, base_commit=onto)
        return Rebased(git.head_commit(path), onto)


def attempt_rebase_continue(attempt_id: str) -> Rebased:
    """Go on with a rebase whose conflicts were resolved in the worktree: everything there is
    staged (as the pipeline's commit does), unless a conflicted file still has markers."""
    with attempt_operation(attempt_id, "rebase_continue") as attempt:
        repo, path = _repository(attempt), attempt_worktree(attempt)
        if git.operation_in_progress(path) != "rebase":
            raise LandingConflict(f"no rebase is in progress in {path}", reason="in_progress")
        conflicted = git.conflicted_files(path)
        if unresolved := git.leftover_markers(path, conflicted):
            raise LandingConflict(
                f"{', '.join(unresolved)} still has conflict markers: resolve them, then continue",
                reason="conflicts",
                conflicted_files=unresolved,
            )
        git.stage_all(path)
        _rebase_step(path, lambda: git.rebase_continue(path))
        onto = git.merge_base(repo, _ref(attempt.target_branch), git.head_commit(path))
        services.attempt_rebased(attempt, base_commit=onto)
        return Rebased(git.head_commit(path), onto)


def attempt_conflicts_abort(attempt_id: str) -> str:
    """Abort the rebase (or merge, cherry-pick, revert) stopped in the worktree: it goes back
    to where it was before. Returns which operation was aborted."""
    with attempt_operation(attempt_id, "conflicts_abort") as attempt:
        path = attempt_worktree(attempt)
        operation = git.operation_in_progress(path)
        if not operation:
            raise LandingConflict(
                f"nothing to abort: no rebase or merge is in progress in {path}",
                reason="in_progress",
            )
        git.operation_abort(path, operation)
        return operation


def _rebase_step(path: str, step: Callable[[], None]) -> None:
    """Run a rebase step; if it stopped on conflicts, say which files."""
    try:
        step()
    except git.GitError as exc:
        conflicted = git.conflicted_files(path)
        if git.operation_in_progress(path) != "rebase" or not conflicted:
            raise
        raise LandingConflict(
            f"the rebase stopped on conflicts in {', '.join(conflicted)}: resolve them in "
            f"{path}, then continue (or abort)",
            reason="conflicts",
            op="rebase",
            conflicted_files=conflicted,
            git=str(exc),
        ) from exc


# Pushing and pull requests


def attempt_push(attempt_id: str, *, force: bool = False) -> Pushed:
    """Push the attempt's branch to the project's remote (`force`: with a lease, for a
    rebased branch; refused, `remote_moved`, when the remote has a commit it never had)."""
    with attempt_operation(attempt_id, "push") as attempt:
        _refuse_work_not_on_branch(attempt, "push")
        return _push(attempt, force)


def attempt_pr_create(
    attempt_id: str, *, title: str = "", body: str = "", target_branch: str = ""
) -> github.PullRequest:
    """Push the branch, open a pull request for it through `gh`, and record it."""
    with attempt_operation(attempt_id, "pr") as attempt:
        repo = _repository(attempt)
        if attempt.pr_url and attempt.pr_state == "open":
            raise LandingConflict(
                f"the attempt has an open pull request already: {attempt.pr_url}",
                reason="pr_open",
            )
        _refuse_work_not_on_branch(attempt, "open the pull request")
        _gh(lambda: github.gh_ready(repo))
        _push(attempt, force=False)
        message = squash_message(attempt)
        url = _gh(
            lambda: github.pr_create(
                repo,
                head=attempt.branch,
                base=target_branch or attempt.target_branch,
                title=title or message.splitlines()[0],
                body=body or message.partition("\n\n")[2],
            )
        )
        return _pr_record(attempt, repo, url)


def attempt_pr_attach(attempt_id: str, *, pr: str = "") -> github.PullRequest:
    """Record an existing pull request: `pr`, its number or URL, else the one whose head is
    the attempt's branch."""
    with attempt_operation(attempt_id, "pr") as attempt:
        repo = _repository(attempt)
        _gh(lambda: github.gh_ready(repo))
        return _pr_record(attempt, repo, pr or attempt.branch)


def _push(attempt: Attempt, force: bool) -> Pushed:
    repo = _repository(attempt)
    remote = _remote(repo)
    try:
        git.push(repo, remote, attempt.branch, force=force)
    except git.RemoteMoved as exc:
        _refuse_remote_moved(attempt, repo, remote, exc)
    return Pushed(remote, attempt.branch, git.commit_of(repo, _ref(attempt.branch)))


def _refuse_remote_moved(
    attempt: Attempt, repo: str, remote: str, exc: git.RemoteMoved
) -> NoReturn:
    branch, path = attempt.branch, attempt.worktree_path
    where = (
        f"in its worktree {path}" if path and os.path.isdir(path) else f"with {branch} checked out"
    )
    raise LandingConflict(
        f"somebody pushed to {branch} on {remote} since this branch last had what is there, "
        "and a forced push would drop their commits: nothing was pushed. To keep them, run "
        f"`git fetch {remote}` and `git merge {remote}/{branch}` {where}, then push again; "
        f"to drop them, force the push yourself (`git -C {repo} push --force {remote} {branch}`)",
        reason="remote_moved",
        git=str(exc),
    ) from exc


def _remote(repo: str) -> str:
    """`origin`, or the repository's only remote."""
    names = git.remotes(repo)
    if "origin" in names or len(names) == 1:
        return "origin" if "origin" in names else names[0]
    if not names:
        raise LandingRefused(
            f"{repo} has no remote to push to: add one (git -C {repo} remote add origin <url>)"
        )
    raise LandingRefused(
        f"{repo} has several remotes ({', '.join(names)}) and none is named origin: name the "
        "one to push to origin"
    )


def _pr_record(attempt: Attempt, repo: str, selector: str) -> github.PullRequest:
    pr: github.PullRequest = _gh(lambda: github.pr_view(repo, selector))
    if pr.head != attempt.branch:
        raise LandingConflict(
            f"pull request #{pr.number} is for the branch {pr.head!r}, not the attempt's "
            f"{attempt.branch!r}: attach the attempt's own pull request",
            reason="pr_branch",
            pr_url=pr.url,
        )
    services.attempt_pr_record(attempt, url=pr.url, number=pr.number, state=pr.state)
    return pr


def _gh(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except github.GhUnavailable as exc:
        raise LandingRefused(str(exc), reason="gh_unavailable") from exc
    except github.GhError as exc:
        raise LandingConflict(f"GitHub refused: {exc}", reason="gh", gh=str(exc)) from exc


# The branch itself


def attempt_target_change(attempt_id: str, *, target_branch: str) -> str:
    """Merge into (and compare with) another branch of the repository from now on."""
    with attempt_operation(attempt_id, "change_target") as attempt:
        repo = _repository(attempt)
        if not git.branch_exists(repo, target_branch):
            raise LandingRefused(
                f"{target_branch!r} is not a branch of {repo}", reason="no_such_branch"
            )
        services.attempt_target_set(attempt, target_branch=target_branch)
        return target_branch


def attempt_branch_rename(attempt_id: str, *, branch: str) -> str:
    """Rename the attempt's branch (its worktree follows); refused while its pull request is
    open, since the pull request would go on naming the old branch."""
    with attempt_operation(attempt_id, "rename_branch") as attempt:
        repo = _repository(attempt)
        if attempt.pr_state == "open":
            raise LandingConflict(
                f"attempt {attempt_id} has an open pull request ({attempt.pr_url}) for "
                f"{attempt.branch!r}: close or merge it first",
                reason="pr_open",
            )
        if branch != attempt.branch and git.branch_exists(repo, branch):
            raise LandingConflict(f"the branch {branch!r} exists already", reason="branch_exists")
        if branch != attempt.branch:
            git.branch_rename(repo, attempt.branch, branch)
            services.attempt_branch_renamed(attempt, branch=branch)
        return branch


# What every operation shares (runs/iterate.py's too)


@contextmanager
def attempt_operation(attempt_id: str, operation: str) -> Iterator[Attempt]:
    """Hold the attempt's operation slot for the block; a git failure inside it becomes a
    LandingConflict with git's own message."""
    token = services.attempt_operation_begin(attempt_id, operation)
    if token is None:
        _refuse_busy(attempt_id, operation)
    try:
        attempt = Attempt.objects.select_related("task__project").filter(id=attempt_id).first()
        if attempt is None:
            raise services.AttemptNotFound(f"attempt {attempt_id} not found")
        yield attempt
    except git.GitError as exc:
        raise LandingConflict(f"git failed: {exc}", reason="git", git=str(exc)) from exc
    finally:
        services.attempt_operation_end(attempt_id, operation, token)


def _refuse_busy(attempt_id: str, operation: str) -> NoReturn:
    attempt = Attempt.objects.filter(id=attempt_id).first()
    if attempt is None:
        raise services.AttemptNotFound(f"attempt {attempt_id} not found")
    if attempt.operation:
        why = f"a {attempt.operation} is running on it"
    else:
        why = f"it is {attempt.status}: wait for its run to end, or stop it"
    raise AttemptBusy(
        f"attempt {attempt_id} is busy ({why}); try the {operation} again then",
        reason="busy",
    )


def _repository(attempt: Attempt) -> str:
    project = attempt.task.project
    if not attempt.branch:
        raise LandingRefused(f"attempt {attempt.id} has no branch (its worktree was never made)")
    if not project.project_root:
        raise LandingRefused(f"project {project.id} has no git repository to land into")
    return project.project_root


def attempt_worktree(attempt: Attempt) -> str:
    """The attempt's worktree, before anything is written there: still the one Conductor
    made (else ForeignWorktree), with the attempt's branch checked out (else WrongBranch)."""
    repo = _repository(attempt)
    if not attempt.worktree_path or not os.path.isdir(attempt.worktree_path):
        raise LandingRefused(f"attempt {attempt.id} has no worktree on this host")
    git.worktree_check(repo, attempt.worktree_path)
    branch_check(attempt.worktree_path, attempt.branch)
    return attempt.worktree_path


def _ref(branch: str) -> str:
    return f"refs/heads/{branch}"
