"""Projects and agent profiles: user configuration, editable in full."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from projects.creation import ProjectInvalid, project_check
from projects.models import AgentProfile, Project


class ProjectForm(forms.ModelForm):
    """The checks of every other route that makes a project (`projects.creation`); the home
    folder is kept resolved, as they keep it."""

    class Meta:
        model = Project
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:  # a field's own check failed: that is the message to show
            return data
        try:
            data["project_root"] = project_check(
                project_id=data.get("id") or self.instance.id,
                project_root=data.get("project_root", ""),
                default_branch=data.get("default_branch", ""),
            )
        except ProjectInvalid as exc:
            field = "id" if exc.field == "project_id" else exc.field
            raise ValidationError({field: exc.reason}) from exc
        return data


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
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
