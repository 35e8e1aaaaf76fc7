"""Projects and agent profiles: user configuration, editable in full; a project is deleted
through the API or the dashboard (`DeletedThroughTheApi`)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from conductor_site.admin import DeletedThroughTheApi
from projects.forms import ProjectForm
from projects.models import AgentProfile, Project


@admin.register(Project)
class ProjectAdmin(DeletedThroughTheApi, admin.ModelAdmin):
    form = ProjectForm
    list_display = ("id", "name", "project_root", "default_branch", "created_at", "updated_at")
    search_fields = ("id", "name", "project_root", "default_branch")
    readonly_fields = ("created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Project | None = None) -> list[str]:
        # A changed primary key would make the admin save a copy, not rename the project.
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "id"] if obj is not None else fields


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ("name", "agent_type", "model", "command", "created_at")
    list_filter = ("agent_type",)
    search_fields = ("name", "agent_type", "model", "command")
    readonly_fields = ("created_at",)
