"""The board's task form: what `tasks.services.task_submit` needs, asked of a person."""

from __future__ import annotations

from typing import Any

from django import forms

from conductor_site.ids import IDENTIFIER_RE, is_identifier, new_task_id
from projects import git
from projects.models import AgentProfile, Project
from runs.agents import AGENT_TYPES
from tasks.api import DEPENDS_ON_MAX


def agent_choices() -> list[tuple[str, str]]:
    """Profiles first (they carry the options people set), then the bare agent types."""
    profiles = [(p.name, f"{p.name} ({p.agent_type})") for p in AgentProfile.objects.all()]
    return [*profiles, *((name, name) for name in sorted(AGENT_TYPES))]


class TaskCreateForm(forms.Form):
    title = forms.CharField(max_length=300, required=False)
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        strip=False,
        help_text="What the agent is asked to do (for the shell agent: the script).",
    )
    agent = forms.ChoiceField(choices=agent_choices)
    depends_on = forms.CharField(
        required=False,
        label="Depends on",
        help_text="Task ids this task waits for, separated by spaces or commas.",
    )
    task_id = forms.CharField(
        required=False,
        max_length=128,
        label="Task id",
        help_text="Empty: made from the title.",
    )

    def clean_task_id(self) -> str:
        value = str(self.cleaned_data.get("task_id") or "").strip()
        if value and not IDENTIFIER_RE.match(value):
            raise forms.ValidationError("must be 1-128 characters of A-Z, a-z, 0-9, '-' or '_'")
        return value

    def clean_depends_on(self) -> list[str]:
        ids = str(self.cleaned_data.get("depends_on") or "").replace(",", " ").split()
        if wrong := [value for value in ids if not is_identifier(value)]:
            raise forms.ValidationError(f"not a task id: {', '.join(wrong)}")
        if len(ids) > DEPENDS_ON_MAX:
            raise forms.ValidationError(f"at most {DEPENDS_ON_MAX} tasks")
        return list(dict.fromkeys(ids))

    def submission(self, project_id: str) -> dict[str, Any]:
        """The keyword arguments of `task_submit`."""
        data = self.cleaned_data
        return {
            "project_id": project_id,
            "task_id": data["task_id"] or new_task_id(data["title"] or data["prompt"]),
            "title": data["title"],
            "prompt": data["prompt"],
            "agent_type": data["agent"],
            "depends_on": data["depends_on"],
        }


class AttemptStartForm(forms.Form):
    """A new attempt on the task page: the agent (the task's by default) and the branch to
    start from, checked as `POST /api/v1/attempts` checks it."""

    agent = forms.ChoiceField(choices=agent_choices)
    base_branch = forms.CharField(
        max_length=255, required=False, label="Base branch", help_text="Empty: the project's."
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_base_branch(self) -> str:
        base = str(self.cleaned_data.get("base_branch") or "").strip()
        if base and not self.project.has_repository:
            raise forms.ValidationError("this project has no git repository")
        if base and not (
            git.branch_name_valid(base) and git.branch_exists(self.project.project_root, base)
        ):
            raise forms.ValidationError(f"{base!r} is not a branch of {self.project.project_root}")
        return base
