"""The board's task form: what `tasks.services.task_submit` (start now) or `task_save` (save
for later) needs, asked of a person: title, prompt (its `@tag`s completed in the browser,
`static/ui/task_form.js`), images, agent or profile, base branch, dependencies, id."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from conductor_site.ids import IDENTIFIER_RE, is_identifier, new_task_id
from projects import git
from projects.models import AgentProfile, Project
from runs.agents import AGENT_TYPES
from tasks import selectors
from tasks.api import DEPENDS_ON_MAX
from tasks.images import image_max_bytes, image_type

DEPENDENCY_CHOICES = 200
IMAGES_MAX = 10


def agent_choices() -> list[tuple[str, str]]:
    """Profiles first (they carry the options people set), then the bare agent types."""
    profiles = [(p.name, f"{p.name} ({p.agent_type})") for p in AgentProfile.objects.all()]
    return [*profiles, *((name, name) for name in sorted(AGENT_TYPES))]


class TaskIdsField(forms.MultipleChoiceField):
    """Task ids picked from the listed tasks, or typed (several in one value, separated by
    spaces or commas): a dependency may name a task not listed, or not made yet."""

    def to_python(self, value: Any) -> list[str]:
        values = super().to_python(value)
        return list(dict.fromkeys(part for v in values for part in v.replace(",", " ").split()))

    def validate(self, value: Any) -> None:
        if wrong := [item for item in value if not is_identifier(item)]:
            raise forms.ValidationError(f"not a task id: {', '.join(wrong)}")
        if len(value) > DEPENDS_ON_MAX:
            raise forms.ValidationError(f"at most {DEPENDS_ON_MAX} tasks")


class MultipleImageInput(forms.FileInput):
    """Several files; `hx-preserve` keeps the chosen files when the form comes back with an
    error (a browser never lets a page fill a file input in)."""

    allow_multiple_selected = True

    def __init__(self) -> None:
        accept = "image/png,image/jpeg,image/gif,image/webp"
        super().__init__(attrs={"accept": accept, "hx-preserve": "true"})


class ImagesField(forms.FileField):
    """Several image files, each checked by its bytes as the images API checks them
    (`tasks.images`), so a wrong file is named next to the field before anything is made."""

    widget = MultipleImageInput

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = [f for f in (data if isinstance(data, list | tuple) else [data]) if f]
        if len(files) > IMAGES_MAX:
            raise forms.ValidationError(f"at most {IMAGES_MAX} images")
        return [self._checked(f, initial) for f in files]

    def _checked(self, data: Any, initial: Any) -> UploadedFile:
        upload: UploadedFile = super().clean(data, initial)
        limit = image_max_bytes()
        data = upload.read(limit + 1)
        upload.seek(0)
        if len(data) > limit:
            raise forms.ValidationError(f"{upload.name}: larger than {limit} bytes")
        if image_type(data) is None:
            raise forms.ValidationError(f"{upload.name}: not a whole PNG, JPEG, GIF or WebP image")
        return upload


class TaskCreateForm(forms.Form):
    title = forms.CharField(max_length=300, required=False)
    prompt = forms.CharField(
        widget=forms.Textarea(
            attrs={
                "rows": 5,
                "role": "combobox",
                "aria-autocomplete": "list",
                "aria-expanded": "false",
                "aria-controls": "prompt-tags",
            }
        ),
        strip=False,
        help_text="What the agent is asked to do (for the shell agent: the script). Type @ "
        "for a tag: ↑/↓ choose, Enter or Tab takes it, Escape closes the list.",
    )
    images = ImagesField(
        required=False,
        help_text="PNG, JPEG, GIF or WebP, attached to the task: the agent finds them in "
        ".conductor/images/ and its prompt lists them.",
    )
    agent = forms.ChoiceField(choices=agent_choices, label="Agent or profile")
    base_branch = forms.ChoiceField(
        required=False,
        label="Base branch",
        help_text="The attempt's branch is made from it when the task starts.",
    )
    depends_on = TaskIdsField(
        required=False,
        label="Depends on",
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text="Tasks this one waits for (Ctrl or Shift to pick several; the "
        f"{DEPENDENCY_CHOICES} most recently changed are listed).",
    )
    task_id = forms.CharField(
        required=False,
        max_length=128,
        label="Task id",
        help_text="Empty: made from the title.",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        depends_on = self.fields["depends_on"]
        assert isinstance(depends_on, TaskIdsField)
        depends_on.choices = [
            (task_id, f"{title} ({task_id})" if title else task_id)
            for task_id, title in selectors.dependency_candidates(project, DEPENDENCY_CHOICES)
        ]
        branches = _local_branches(project)
        if branches:
            named = f" ({project.default_branch})" if project.default_branch else ""
            default = f"The project's default branch{named}"
            base = self.fields["base_branch"]
            assert isinstance(base, forms.ChoiceField)
            base.choices = [("", default), *((b, b) for b in branches)]
        else:
            del self.fields["base_branch"]

    def clean_prompt(self) -> str:
        """Line ends as the agent expects them: a browser sends a textarea's as CRLF (HTML's
        rule), and a shell script with `\r` at each line's end fails."""
        return str(self.cleaned_data["prompt"]).replace("\r\n", "\n")

    def clean_task_id(self) -> str:
        value = str(self.cleaned_data.get("task_id") or "").strip()
        if value and not IDENTIFIER_RE.match(value):
            raise forms.ValidationError("must be 1-128 characters of A-Z, a-z, 0-9, '-' or '_'")
        return value

    def common(self) -> dict[str, Any]:
        """The keyword arguments `task_submit` and `task_save` share."""
        data = self.cleaned_data
        return {
            "task_id": data["task_id"] or new_task_id(data["title"] or data["prompt"]),
            "title": data["title"],
            "prompt": data["prompt"],
            "agent_type": data["agent"],
            "depends_on": data["depends_on"],
            "images": data["images"],
        }

    def submission(self) -> dict[str, Any]:
        """The keyword arguments of `task_submit`."""
        base = self.cleaned_data.get("base_branch", "")
        return {"project_id": self.project.id, "base_branch": base, **self.common()}


def _local_branches(project: Project) -> list[str]:
    """The repository's local branches (a base branch must be one), none without one."""
    if not project.has_repository:
        return []
    try:
        return sorted(b.name for b in git.branches(project.project_root) if not b.is_remote)
    except (git.GitError, OSError):
        return []


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
