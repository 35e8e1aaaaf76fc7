"""The OpenAPI shapes of the `/api/v1/runs` routes, `/api/v1/status` and the project API's runs
under `/api/projects/<p>/...` (`runs.selectors` builds the data; these describe it)."""

from __future__ import annotations

from drf_spectacular.drainage import set_override
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from conductor_site.openapi import bool_parameter, id_parameter, int_parameter, page_of
from runs.files import RUN_FILES
from runs.models import MergeStrategy, Run, RunStatus
from runs.selectors import DOCUMENT_STATUSES, UI_STATUSES

RUN_KINDS = Run.Kind.choices
WORKTREE_OPERATIONS = ["rebase", "merge", "cherry_pick", "revert"]
PR_STATES = ["open", "closed", "merged"]


class RunSerializer(serializers.Serializer):
    """`runs.selectors.run_to_api`: `end_time` and `exit_code` only once the run ended."""

    run_id = serializers.CharField()
    project_id = serializers.CharField()
    task_id = serializers.CharField()
    kind = serializers.ChoiceField(RUN_KINDS)
    status = serializers.ChoiceField(
        DOCUMENT_STATUSES, help_text="The document's words: `created` until it started."
    )
    start_time = serializers.DateTimeField(help_text="When it started, else when it was created.")
    agent = serializers.CharField(help_text="The agent type or profile name.")
    agent_version = serializers.CharField(help_text='"" when unknown.')
    error_summary = serializers.CharField(help_text='"" when there is none.')
    end_time = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Only once the run ended."
    )
    exit_code = serializers.IntegerField(
        required=False, help_text="Only once the run ended; -1 when it never ran."
    )


class RunDetailSerializer(RunSerializer):
    output = serializers.CharField(
        help_text="stdout and stderr merged in order, capped with a truncation marker."
    )


class RunListSerializer(serializers.Serializer):
    runs = RunSerializer(many=True, help_text="Newest first.")


class RunStoppedSerializer(serializers.Serializer):
    status = serializers.ChoiceField(["stopped"])


class RunningTaskSerializer(serializers.Serializer):
    project_id = serializers.CharField()
    task_id = serializers.CharField()
    run_id = serializers.CharField()
    agent = serializers.CharField()
    started = serializers.DateTimeField()


class ServerStatusSerializer(serializers.Serializer):
    active_runs_count = serializers.IntegerField()
    uptime_seconds = serializers.IntegerField()
    configured_agents = serializers.ListField(child=serializers.CharField())
    version = serializers.CharField()
    running_tasks = RunningTaskSerializer(many=True)


class EntrySerializer(serializers.Serializer):
    """An entry and its index (from 1): an index seen before replaces that entry."""

    index = serializers.IntegerField(min_value=1)
    entry = serializers.DictField(
        help_text="`type` is one of user_message, assistant_message, thinking, tool_use, plan, "
        "error, usage, session, raw: see docs/api/entries.md for each shape."
    )


class EntryPageSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    format = serializers.CharField(help_text="The output format read: claude, codex, ... or raw.")
    entries = EntrySerializer(many=True, help_text="By index.")
    next_after = serializers.IntegerField(help_text="The cursor for the next page.")
    has_more = serializers.BooleanField()


ENTRY_PARAMETERS = [
    int_parameter("after", "Entries after this index (default 0: from the start).", minimum=0),
    int_parameter("limit", "New entries per page (default 200, at most 1000).", minimum=1),
]


RUN_LIST_PARAMETERS = [
    OpenApiParameter(
        "kind",
        OpenApiTypes.STR,
        enum=[*Run.Kind.values, "all"],
        default=Run.Kind.AGENT,
        description="Which runs: agent runs by default, `all` for every kind.",
    ),
    OpenApiParameter(
        "status",
        OpenApiTypes.STR,
        enum=RunStatus.values,
        description="`created` is every run not started; `queued` only those sent to a worker.",
    ),
    id_parameter("project_id", "Only this project's runs."),
    id_parameter("task_id", "Only runs of tasks with this id."),
    int_parameter("limit", "Page size (default 100, at most 1000: larger is capped).", minimum=1),
    int_parameter("offset", "Runs to skip.", minimum=0),
]
PAGE_HEADERS = [
    OpenApiParameter(header, OpenApiTypes.INT, OpenApiParameter.HEADER, response=[200])
    for header in ("X-Total-Count", "X-Limit", "X-Offset")
]


# The project API's runs.


RUN_FILE_NAMES = list(RUN_FILES)


class RunFileSerializer(serializers.Serializer):
    name = serializers.ChoiceField(RUN_FILE_NAMES)
    # A field named like Field.label: DRF takes it out of the class, the stubs do not know.
    label = serializers.CharField()  # type: ignore[assignment]
    size = serializers.IntegerField(help_text="In bytes.")


class RunSummarySerializer(RunSerializer):
    """The project API's run: always `exit_code` (-1 until it ended) and `end_time`."""

    id = serializers.CharField(help_text="The same as run_id.")
    status = serializers.ChoiceField(
        UI_STATUSES, help_text="The web UI's words: `queued` until it started, then `completed`."
    )
    end_time = serializers.DateTimeField(allow_null=True)
    exit_code = serializers.IntegerField()
    parent_run_id = serializers.CharField(
        allow_null=True, help_text="The run whose question this task's thread answers."
    )
    previous_run_id = serializers.CharField(allow_null=True)
    files = RunFileSerializer(many=True, help_text="The run's files that exist.")


class ProjectRunSerializer(RunSummarySerializer):
    cwd = serializers.CharField()
    pid = serializers.IntegerField(allow_null=True)
    pgid = serializers.IntegerField(allow_null=True)
    worker = serializers.CharField()


class FlatRunSerializer(serializers.Serializer):
    id = serializers.CharField()
    task_id = serializers.CharField()
    agent = serializers.CharField()
    status = serializers.ChoiceField(UI_STATUSES, help_text="The web UI's words.")
    exit_code = serializers.IntegerField()
    start_time = serializers.DateTimeField()
    end_time = serializers.DateTimeField(required=False)
    parent_run_id = serializers.CharField(required=False)
    previous_run_id = serializers.CharField(required=False)


class FlatRunsSerializer(serializers.Serializer):
    runs = FlatRunSerializer(many=True, help_text="Oldest first.")


class RunStoppingSerializer(serializers.Serializer):
    status = serializers.ChoiceField(["stopping"])
    run_id = serializers.CharField()


class GcSerializer(serializers.Serializer):
    project_id = serializers.CharField()
    deleted_runs = serializers.IntegerField()
    freed_bytes = serializers.IntegerField()
    dry_run = serializers.BooleanField()


RUN_PAGE = page_of("RunPage", RunSummarySerializer(many=True, help_text="Newest first."))


FLAT_PARAMETERS = [
    bool_parameter("active_only", "Only active runs, plus the selected task's latest."),
    id_parameter("selected_task_id", "With active_only: also this task's latest runs."),
    int_parameter("selected_task_limit", "How many of them (default and most 200).", minimum=0),
]


GC_PARAMETERS = [
    OpenApiParameter(
        "older_than",
        OpenApiTypes.STR,
        description="A Go duration (`168h`, `1h30m`, `0`; also `d`), at most 876000h. "
        "Default 168h.",
    ),
    bool_parameter("dry_run", "Only count what would be deleted."),
    bool_parameter("keep_failed", "Keep failed and crashed runs."),
]


# /api/v1/attempts (runs/attempt_api.py; shapes from runs.selectors, runs.diffs and
# runs.branch_status).


WORKTREE_ARCHIVE_REASONS = ["requested", "merged", "idle"]


class WorktreeSerializer(serializers.Serializer):
    """`runs.selectors.worktree_to_api`: stored by the owning worker, so any server answers."""

    path = serializers.CharField(help_text='Where it is (or was, once archived); "" without one.')
    present = serializers.BooleanField(help_text="False before it is made and once archived.")
    archived_at = serializers.DateTimeField(allow_null=True)
    archived_reason = serializers.ChoiceField(
        WORKTREE_ARCHIVE_REASONS, allow_blank=True, help_text='Why it was archived; "".'
    )
    disk_bytes = serializers.IntegerField(
        allow_null=True, help_text="What its files held when last measured; null: not yet."
    )
    measured_at = serializers.DateTimeField(allow_null=True)


class AttemptSerializer(serializers.Serializer):
    """`runs.selectors.attempt_to_api`."""

    attempt_id = serializers.CharField()
    project_id = serializers.CharField()
    task_id = serializers.CharField()
    agent = serializers.CharField(help_text="The agent type or profile name.")
    status = serializers.ChoiceField(RunStatus.choices)
    branch = serializers.CharField(help_text='"" until its worktree exists, or without a repo.')
    base_branch = serializers.CharField(help_text="What the branch was made from.")
    target_branch = serializers.CharField(help_text="What it is compared with and merged into.")
    base_commit = serializers.CharField(help_text="The commit the branch started from.")
    worktree_path = serializers.CharField()
    worker = serializers.CharField(help_text="The worker that owns the worktree.")
    error_summary = serializers.CharField()
    merge_commit = serializers.CharField(help_text='The commit it landed as; "" until merged.')
    merge_strategy = serializers.ChoiceField(
        MergeStrategy.choices, allow_blank=True, help_text='"" until merged.'
    )
    merged_at = serializers.DateTimeField(allow_null=True)
    pr_url = serializers.CharField(help_text='Its pull request; "" without one.')
    pr_number = serializers.IntegerField(allow_null=True)
    pr_state = serializers.ChoiceField(PR_STATES, allow_blank=True, help_text='"" without a PR.')
    operation = serializers.CharField(
        help_text='The landing operation running on it now (merge, rebase, push, ...), or "".'
    )
    worktree = WorktreeSerializer(help_text="Its worktree's state and disk usage.")
    created_at = serializers.DateTimeField()


class AttemptRunSerializer(serializers.Serializer):
    """`runs.selectors.attempt_run_to_api`: an execution process of the attempt."""

    run_id = serializers.CharField()
    attempt_id = serializers.CharField()
    kind = serializers.ChoiceField(RUN_KINDS)
    status = serializers.ChoiceField(RunStatus.choices)
    exit_code = serializers.IntegerField(allow_null=True)
    previous_run_id = serializers.CharField(allow_null=True)
    worker = serializers.CharField()
    agent_session_id = serializers.CharField()
    head_before = serializers.CharField(help_text="HEAD when the agent started.")
    head_after = serializers.CharField(help_text="HEAD after its changes were committed.")
    url = serializers.CharField(
        help_text='A dev server\'s: the first URL it printed (0.0.0.0 shown as 127.0.0.1); else "".'
    )
    error_summary = serializers.CharField()
    log_bytes = serializers.IntegerField()
    log_lines = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    dropped_at = serializers.DateTimeField(
        allow_null=True, help_text="When a retry set its work aside; null while it counts."
    )


INCLUDE_DROPPED = bool_parameter(
    "include_dropped", "Also the runs a retry set aside (`dropped_at`); hidden by default."
)


class AttemptDetailSerializer(AttemptSerializer):
    runs = AttemptRunSerializer(many=True, help_text="In the order they ran.")


class AttemptStartedSerializer(AttemptSerializer):
    run_id = serializers.CharField(help_text="Its agent run.")
    queue_position = serializers.IntegerField(help_text="1..N while it waits, else 0.")


class AttemptRunListSerializer(serializers.Serializer):
    runs = AttemptRunSerializer(many=True, help_text="In the order they ran.")


class AttemptStoppedSerializer(serializers.Serializer):
    attempt_id = serializers.CharField()
    status = serializers.ChoiceField(RunStatus.choices, help_text="The attempt's, after.")
    stopped_run_ids = serializers.ListField(child=serializers.CharField())


SHA_PARAMETER = OpenApiParameter(
    "sha",
    OpenApiTypes.STR,
    required=True,
    description="A commit: its object name in hex (4 to 64 digits), or a ref name whose "
    "commit is in the attempt's branch history.",
)


class CommitInfoSerializer(serializers.Serializer):
    """`runs.commits.CommitInfo`."""

    sha = serializers.CharField(help_text="The full object name.")
    subject = serializers.CharField()
    body = serializers.CharField(help_text="The message after its first line.")
    author_name = serializers.CharField()
    author_email = serializers.CharField()
    date = serializers.DateTimeField(allow_null=True, help_text="The author date, UTC.")
    parents = serializers.ListField(child=serializers.CharField())


class CommitCompareSerializer(serializers.Serializer):
    """`runs.commits.CommitCompare`."""

    sha = serializers.CharField(help_text="The full object name.")
    head_commit = serializers.CharField(help_text="The attempt's HEAD.")
    commits_ahead = serializers.IntegerField(help_text="On HEAD, not in the commit's history.")
    commits_behind = serializers.IntegerField(help_text="In the commit's history, not on HEAD.")
    is_ancestor = serializers.BooleanField(help_text="The commit is in HEAD's history.")


class BranchStatusSerializer(serializers.Serializer):
    """`runs.branch_status.BranchStatus`."""

    attempt_id = serializers.CharField()
    branch = serializers.CharField()
    target_branch = serializers.CharField()
    head_commit = serializers.CharField()
    target_commit = serializers.CharField()
    base_commit = serializers.CharField(help_text="Where the attempt started.")
    merge_base = serializers.CharField()
    commits_ahead = serializers.IntegerField()
    commits_behind = serializers.IntegerField()
    target_moved = serializers.BooleanField(
        help_text="The target is no longer the commit the attempt started from."
    )
    worktree_present = serializers.BooleanField(
        help_text="false: read from the branch (the worktree was removed)."
    )
    has_uncommitted_changes = serializers.BooleanField()
    uncommitted_count = serializers.IntegerField()
    untracked_count = serializers.IntegerField()
    operation_in_progress = serializers.ChoiceField(WORKTREE_OPERATIONS, allow_null=True)
    is_rebase_in_progress = serializers.BooleanField()
    is_merge_in_progress = serializers.BooleanField()
    conflicted_files = serializers.ListField(child=serializers.CharField())


class DiffFileSerializer(serializers.Serializer):
    """`runs.diffs.DiffFile`."""

    change = serializers.ChoiceField(["added", "modified", "deleted", "renamed", "copied"])
    old_path = serializers.CharField(allow_null=True)
    new_path = serializers.CharField(allow_null=True)
    old_mode = serializers.CharField(allow_null=True)
    new_mode = serializers.CharField(allow_null=True)
    file_type = serializers.ChoiceField(["file", "executable", "symlink", "submodule"])
    similarity = serializers.IntegerField(allow_null=True, help_text="Renames and copies.")
    binary = serializers.BooleanField()
    additions = serializers.IntegerField()
    deletions = serializers.IntegerField()
    content_omitted = serializers.ChoiceField(["binary", "too_large"], allow_null=True)
    old_content = serializers.CharField(
        required=False, allow_null=True, help_text="Absent with stats_only."
    )
    new_content = serializers.CharField(
        required=False, allow_null=True, help_text="Absent with stats_only."
    )


class DiffTotalsSerializer(serializers.Serializer):
    files = serializers.IntegerField()
    additions = serializers.IntegerField()
    deletions = serializers.IntegerField()


class DiffSerializer(serializers.Serializer):
    """`runs.diffs.Diff`."""

    attempt_id = serializers.CharField()
    source = serializers.ChoiceField(  # type: ignore[assignment]  # a field, not Field.source
        ["worktree", "snapshot"],
        help_text="worktree: computed now by its owner; snapshot: stored when a run ended.",
    )
    stale_reason = serializers.CharField(
        required=False, help_text="With a snapshot: why the worktree was not read."
    )
    computed_at = serializers.DateTimeField()
    target_branch = serializers.CharField()
    base_commit = serializers.CharField(help_text="The merge-base with the target.")
    head_commit = serializers.CharField()
    stats_only = serializers.BooleanField()
    totals = DiffTotalsSerializer()
    files = DiffFileSerializer(many=True)


# A page, not a list of pages (drf-spectacular would wrap a `list` action's answer in an array).
ATTEMPT_PAGE = set_override(page_of("AttemptPage", AttemptSerializer(many=True)), "many", False)
ATTEMPT_LIST_PARAMETERS = [
    id_parameter("project_id", "Only this project's attempts."),
    id_parameter("task_id", "Only attempts of tasks with this id."),
    int_parameter("limit", "Page size (default 50, at most 500: larger is capped).", minimum=1),
    int_parameter("offset", "Attempts to skip.", minimum=0),
]


# Landing an attempt (runs/landing_api.py): the attempt after, with what the operation did.


class MergedSerializer(serializers.Serializer):
    """`runs.landing.Merged`."""

    strategy = serializers.ChoiceField(MergeStrategy.choices)
    commit = serializers.CharField(help_text="The target's new commit.")
    previous = serializers.CharField(help_text="The target's commit before.")
    target = serializers.CharField(help_text="The branch merged into.")
    updated_worktree = serializers.CharField(
        help_text='The working tree that had the target checked out, brought up to date; "".'
    )


class RebasedSerializer(serializers.Serializer):
    """`runs.landing.Rebased`."""

    head = serializers.CharField(help_text="The branch's new head.")
    onto = serializers.CharField(help_text="The target's commit it now starts from.")


class PushedSerializer(serializers.Serializer):
    """`runs.landing.Pushed`."""

    remote = serializers.CharField()
    branch = serializers.CharField()
    commit = serializers.CharField(help_text="What the remote branch is now.")


class PullRequestSerializer(serializers.Serializer):
    """`projects.github.PullRequest`."""

    url = serializers.CharField()
    number = serializers.IntegerField()
    state = serializers.ChoiceField(PR_STATES)
    head = serializers.CharField(help_text="Its head branch: the attempt's.")


class AttemptMergedSerializer(AttemptSerializer):
    merged = MergedSerializer()


class AttemptRebasedSerializer(AttemptSerializer):
    rebased = RebasedSerializer()


class AttemptAbortedSerializer(AttemptSerializer):
    aborted = serializers.ChoiceField(WORKTREE_OPERATIONS, help_text="What was aborted.")


class AttemptPushedSerializer(AttemptSerializer):
    pushed = PushedSerializer()


class AttemptPullRequestSerializer(AttemptSerializer):
    pull_request = PullRequestSerializer()


class ArchivedSerializer(serializers.Serializer):
    """`runs.archive.Archived`."""

    reason = serializers.ChoiceField(WORKTREE_ARCHIVE_REASONS)
    wip_commit = serializers.CharField(
        help_text='The WIP commit on the branch that kept uncommitted work; "" when none.'
    )
    freed_bytes = serializers.IntegerField()
    removed = serializers.BooleanField(help_text="False: it had been archived already.")


class AttemptArchivedSerializer(AttemptSerializer):
    archived = ArchivedSerializer()


class RetriedSerializer(serializers.Serializer):
    """`runs.iterate.Retried`."""

    run_id = serializers.CharField(help_text="The new agent run.")
    reset_to = serializers.CharField(help_text="The commit the chosen run started from.")
    previous_head = serializers.CharField(help_text="The branch's commit before the reset.")
    previous_ref = serializers.CharField(
        help_text='The ref keeping previous_head (the dropped commits); "" when none were.'
    )
    resumed_run_id = serializers.CharField(
        allow_null=True, help_text="The run whose agent session it resumes; null: a fresh one."
    )
    dropped_run_ids = serializers.ListField(child=serializers.CharField())
    saved_ref = serializers.CharField(
        help_text='The ref keeping the uncommitted changes (force); "" when there were none.'
    )


class DeletedSerializer(serializers.Serializer):
    """`runs.iterate.Deleted`."""

    path = serializers.CharField()
    commit = serializers.CharField(
        help_text='The commit "Delete <path>"; "" for a file git did not track.'
    )


class AttemptRetriedSerializer(AttemptSerializer):
    retried = RetriedSerializer()


class AttemptFileDeletedSerializer(AttemptSerializer):
    deleted = DeletedSerializer()
