"""The forms people fill in for projects: the admin's and the dashboard's.

Every form that makes or edits a project runs the checks of `projects.creation` (the API's
too): a form only says which field a refusal belongs to.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from projects.creation import REPO_URL_MAX, ProjectInvalid, project_check
from projects.models import Project


class LinesField(forms.CharField):
    """A list of strings edited as a textarea, one a line; blank lines are dropped."""

    widget = forms.Textarea(attrs={"rows": 3})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(str(item) for item in value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


def field_of(exc: ProjectInvalid, id_field: str) -> str:
    """The form field a refusal of `projects.creation` names (its `project_id` is the
    form's `id_field`)."""
    return id_field if exc.field == "project_id" else exc.field


class ProjectForm(forms.ModelForm):
    """Editing a project: the checks of every route that makes one; the home folder is kept
    resolved, as they keep it."""

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
            raise ValidationError({field_of(exc, "id"): exc.reason}) from exc
        return data


SCRIPT_FIELDS = ("setup_script", "dev_server_script", "cleanup_script")


class ProjectEditForm(ProjectForm):
    """The dashboard's edit form: what a person sets, the id kept."""

    copy_files = LinesField(
        help_text="Globs of files copied from the repository into each "
        "worktree, one a line (e.g. .env)."
    )

    class Meta:
        model = Project
        fields = ("name", "project_root", "default_branch", *SCRIPT_FIELDS, "copy_files")
        widgets = {name: forms.Textarea(attrs={"rows": 3}) for name in SCRIPT_FIELDS}


class ProjectCreateForm(forms.Form):
    """The dashboard's create form; `projects.creation.project_create` decides."""

    project_id = forms.CharField(
        label="Project id", max_length=128, help_text="Letters, digits, '-' and '_'."
    )
    project_root = forms.CharField(
        label="Repository folder",
        max_length=4096,
        required=False,
        help_text="Absolute path of the git repository: type it, or pick it below.",
        widget=forms.TextInput(attrs={"list": "home-dirs"}),
    )
    repo_url = forms.CharField(
        label="Or clone from a URL",
        max_length=REPO_URL_MAX,
        required=False,
        help_text="file:///, https:// or ssh://, cloned into Conductor's data folder "
        "(leave the folder empty).",
    )
    name = forms.CharField(max_length=200, required=False)
    default_branch = forms.CharField(
        max_length=255, required=False, help_text="Base and target branch; empty: the repo's HEAD."
    )
    setup_script = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        strip=False,
        help_text="Bash, run in the worktree first.",
    )
    dev_server_script = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    cleanup_script = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        strip=False,
        help_text="Bash, run after the agent.",
    )
    copy_files = LinesField(help_text="Globs of files copied into each worktree, one a line.")

    def refused(self, exc: ProjectInvalid) -> None:
        self.add_error(field_of(exc, "project_id"), exc.reason)
