"""Attempts, runs, log chunks and diff snapshots: records the workers write, so the admin only
shows them.

None of them is editable here: a save from the admin writes every column and would undo what
a worker wrote meanwhile (status, heartbeat, log counters). Nor deleted: a run goes through
the API or the dashboard, an attempt with its task (`DeletedThroughTheApi`), a log chunk or a
diff snapshot with its run or attempt (a chunk deleted alone would leave a hole in its log).
A worker's row may be deleted (a machine gone for good): a live worker writes it again at its
next heartbeat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Max, QuerySet
from django.db.models.functions import Left
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import urlencode

from conductor_site.admin import DeletedThroughTheApi
from runs.models import Attempt, DiffSnapshot, LogChunk, Run, Worker

LOG_PAGE_CHUNKS = 200
LOG_PAGE_CHARS = 1024 * 1024
PREVIEW_CHARS = 200


class ViewOnly:
    """For admins of rows the system writes: no add, no change."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RunInline(ViewOnly, admin.TabularInline):
    model = Run
    fields = ("id", "kind", "status", "exit_code", "log_lines", "created_at", "ended_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False


@admin.register(Attempt)
class AttemptAdmin(DeletedThroughTheApi, ViewOnly, admin.ModelAdmin):
    list_display = (
        "id",
        "task",
        "agent",
        "status",
        "branch",
        "worker",
        "heartbeat_at",
        "created_at",
    )
    list_filter = ("status", "agent", "task__project")
    search_fields = ("id", "task__task_id", "task__title", "branch", "worker")
    list_select_related = ("task",)
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    inlines = (RunInline,)


@dataclass(frozen=True)
class LogPage:
    """Chunks `first_seq`..`last_seq` of a run's log, shown up to LOG_PAGE_CHARS characters."""

    number: int
    count: int
    first_seq: int
    last_seq: int
    segments: list[tuple[str, str]]  # (stream, text) in seq order
    cut_at_seq: int | None  # the chunk where the character cap ended the page early

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.count else None


def requested_page(value: str | None) -> int:
    try:
        return int(value or 1)
    except ValueError:
        return 1


def log_page(run: Run, number: int) -> LogPage:
    last_seq = run.log_chunks.aggregate(last=Max("seq"))["last"] or 0
    count = max(1, math.ceil(last_seq / LOG_PAGE_CHUNKS))
    number = min(max(number, 1), count)
    first = (number - 1) * LOG_PAGE_CHUNKS + 1
    last = min(number * LOG_PAGE_CHUNKS, last_seq)
    segments, cut_at = log_segments(run, first, last)
    return LogPage(number, count, first, last, segments, cut_at)


def log_segments(run: Run, first: int, last: int) -> tuple[list[tuple[str, str]], int | None]:
    """The chunks' text until LOG_PAGE_CHARS; each read is capped too, so one huge chunk
    (a 4 MB line) cannot pull more than the page into memory."""
    chunks = (
        run.log_chunks.filter(seq__gte=first, seq__lte=last)
        .order_by("seq")
        .values_list("seq", "stream", Left("text", LOG_PAGE_CHARS + 1))
    )
    segments: list[tuple[str, str]] = []
    size = 0
    for seq, stream, text in chunks.iterator(chunk_size=16):
        if size + len(text) > LOG_PAGE_CHARS:
            segments.append((stream, text[: LOG_PAGE_CHARS - size]))
            return segments, seq
        segments.append((stream, text))
        size += len(text)
    return segments, None


def log_page_url(request: HttpRequest, number: int | None) -> str:
    if number is None:
        return ""
    query = request.GET.copy()
    query["log_page"] = str(number)
    return f"?{query.urlencode()}"


@admin.register(Run)
class RunAdmin(DeletedThroughTheApi, ViewOnly, admin.ModelAdmin):
    list_display = (
        "id",
        "task",
        "kind",
        "status",
        "exit_code",
        "worker",
        "log_lines",
        "created_at",
        "ended_at",
    )
    list_filter = ("status", "kind", "log_truncated", "attempt__agent", "attempt__task__project")
    search_fields = ("id", "attempt__id", "attempt__task__task_id", "attempt__branch", "prompt")
    list_select_related = ("attempt__task",)
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("id", "attempt", "kind", "status", "previous_run", "exit_code")}),
        ("Process", {"fields": ("cwd", "pid", "worker", "agent_session_id", "agent_version")}),
        ("Git", {"fields": ("head_before", "head_after")}),
        ("Prompt and errors", {"fields": ("prompt", "error_summary")}),
        ("Log", {"fields": ("log_lines", "log_bytes", "log_truncated")}),
        ("Times", {"fields": ("created_at", "started_at", "ended_at", "heartbeat_at")}),
        ("Stop", {"fields": ("stop_requested_at",)}),
    )

    @admin.display(ordering="attempt__task__task_id")
    def task(self, run: Run) -> str:
        return str(run.attempt.task)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {**(extra_context or {}), **self.log_context(request, object_id)}
        return super().change_view(request, object_id, form_url, context)

    def log_context(self, request: HttpRequest, object_id: str) -> dict[str, Any]:
        """The page of the log asked for by `?log_page=N`, with links to its neighbours."""
        run = self.get_object(request, unquote(object_id))
        if run is None or not self.has_view_permission(request, run):
            return {}
        page = log_page(run, requested_page(request.GET.get("log_page")))
        return {
            "log_page": page,
            "log_page_chars": LOG_PAGE_CHARS,
            "log_previous_url": log_page_url(request, page.previous),
            "log_next_url": log_page_url(request, page.next),
            "log_chunks_url": reverse("admin:runs_logchunk_changelist")
            + "?"
            + urlencode({"run": run.pk}),
        }


class RunFilter(admin.SimpleListFilter):
    """Filters by run without listing every run: offers the latest ones (and the one chosen)."""

    title = "run"
    parameter_name = "run"
    recent = 20

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        ids = list(Run.objects.order_by("-created_at").values_list("id", flat=True)[: self.recent])
        if self.value() and self.value() not in ids:
            ids.insert(0, str(self.value()))
        return [(run_id, run_id) for run_id in ids]

    def queryset(self, request: HttpRequest, queryset: QuerySet[LogChunk]) -> QuerySet[LogChunk]:
        return queryset.filter(run_id=self.value()) if self.value() else queryset


@admin.register(LogChunk)
class LogChunkAdmin(DeletedThroughTheApi, ViewOnly, admin.ModelAdmin):
    list_display = ("run", "seq", "stream", "line_count", "created_at", "preview")
    list_filter = (RunFilter, "stream")
    list_select_related = ("run",)
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[LogChunk]:
        # The list shows a preview: never read whole chunks (up to megabytes each) for it.
        return (
            super()
            .get_queryset(request)
            .defer("text")
            .annotate(_preview=Left("text", PREVIEW_CHARS + 1))
        )

    @admin.display(description="text")
    def preview(self, chunk: LogChunk) -> str:
        text: str = chunk._preview  # type: ignore[attr-defined]
        return text[:PREVIEW_CHARS] + "…" if len(text) > PREVIEW_CHARS else text


@admin.register(Worker)
class WorkerAdmin(ViewOnly, admin.ModelAdmin):
    list_display = ("name", "heartbeat_at")
    ordering = ("-heartbeat_at",)


@admin.register(DiffSnapshot)
class DiffSnapshotAdmin(DeletedThroughTheApi, ViewOnly, admin.ModelAdmin):
    list_display = ("attempt", "created_at", "files_changed", "additions", "deletions")
    list_select_related = ("attempt",)
    search_fields = ("attempt__id",)
    exclude = ("contents",)  # up to DIFF_TOTAL_MAX_BYTES: the API serves it, not this page
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[DiffSnapshot]:
        return super().get_queryset(request).defer("files", "contents")
