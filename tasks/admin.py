"""Tasks, with their attempts inline; what a task asks for stays editable. Tags too. A task is
deleted through the API or the dashboard (`DeletedThroughTheApi`)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from conductor_site.admin import DeletedThroughTheApi
from runs.models import Attempt
from tasks.models import Gate, OpenQuestion, Tag, Task


class AttemptInline(admin.TabularInline):
    """The task's attempts, read-only: the workers write them."""

    model = Attempt
    fields = ("id", "agent", "status", "branch", "worker", "created_at", "updated_at")
    readonly_fields = fields
    ordering = ("-created_at",)
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Task | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Task | None = None) -> bool:
        return False


@admin.register(Task)
class TaskAdmin(DeletedThroughTheApi, admin.ModelAdmin):
    list_display = ("task_id", "title", "project", "agent_type", "column", "priority", "created_at")
    list_filter = ("column", "agent_type", "project")
    search_fields = ("task_id", "title", "prompt", "project__id")
    list_select_related = ("project",)
    ordering = ("-created_at",)
    readonly_fields = ("created_at", "updated_at")
    inlines = (AttemptInline,)

    def get_readonly_fields(self, request: HttpRequest, obj: Task | None = None) -> list[str]:
        # Runs, worktrees and API paths are named after the project and task id: fixed once set.
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "project", "task_id"] if obj is not None else fields


@admin.register(Gate)
class GateAdmin(admin.ModelAdmin):
    """The admission gate and self-update state: read it here, change it through the API."""

    list_display = ("state", "binary_path", "requested_at", "finished_at", "last_error")
    readonly_fields = (
        "state",
        "binary_path",
        "requested_at",
        "started_at",
        "finished_at",
        "active_runs_at_request",
        "last_error",
        "last_note",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Gate | None = None) -> bool:
        return False


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    """Prompt snippets: `@name` in a submitted prompt becomes the content."""

    list_display = ("name", "updated_at")
    search_fields = ("name",)


@admin.register(OpenQuestion)
class OpenQuestionAdmin(admin.ModelAdmin):
    """Kept by the bus's appends (`messagebus.services.questions_note`): read-only here."""

    list_display = ("message", "task")
    list_select_related = ("message", "task")
    search_fields = ("message__msg_id", "task__task_id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OpenQuestion | None = None) -> bool:
        return False
