"""The message bus, shown read-only: it is append-only, and rows added or edited here would
never reach the live subscribers (only `publish` does that)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from messagebus.models import Message


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("msg_id", "type", "project", "task", "run", "short_body", "created_at")
    list_filter = ("type", "project")
    search_fields = ("msg_id", "body", "task__task_id", "run__id")
    list_select_related = ("project", "task", "run")
    ordering = ("-id",)
    date_hierarchy = "created_at"

    @admin.display(description="body")
    def short_body(self, message: Message) -> str:
        return message.body[:120] + "…" if len(message.body) > 120 else message.body

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False
