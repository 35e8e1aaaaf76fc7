"""The agent profile form of the dashboard's Agents page."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from projects.forms import LinesField
from projects.models import AgentProfile
from runs.agents import AGENT_TYPES


class EnvField(forms.CharField):
    """Environment variables edited as `NAME=value` lines."""

    widget = forms.Textarea(attrs={"rows": 3})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, strip=False, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("{"):
            value = json.loads(value)
        if isinstance(value, dict):
            return "\n".join(f"{name}={text}" for name, text in value.items())
        return value

    def to_python(self, value: Any) -> dict[str, str]:  # type: ignore[override]
        env = {}
        for line in str(value or "").splitlines():
            if not line.strip():
                continue
            name, equals, text = line.partition("=")
            if not equals or not name.strip():
                raise forms.ValidationError(f"not NAME=value: {line.strip()!r}")
            env[name.strip()] = text
        return env


class AgentProfileForm(forms.ModelForm):
    agent_type = forms.ChoiceField(choices=[(name, name) for name in sorted(AGENT_TYPES)])
    flags = LinesField(help_text="Extra command-line arguments, one a line.")
    env = EnvField(help_text="Extra environment, NAME=value a line.")

    class Meta:
        model = AgentProfile
        fields = ("name", "agent_type", "model", "flags", "env", "command")


class AgentTrialForm(forms.Form):
    """The Agents page's test: an agent type or profile, and a one-line prompt."""

    agent = forms.ChoiceField(label="Agent or profile")
    prompt = forms.CharField(
        max_length=1000, initial="echo hello from conductor", label="One-line prompt"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        profiles = AgentProfile.objects.order_by("name").values_list("name", flat=True)
        names = [*sorted(AGENT_TYPES), *(name for name in profiles if name not in AGENT_TYPES)]
        field = self.fields["agent"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(name, name) for name in names]

    def clean_prompt(self) -> str:
        prompt: str = self.cleaned_data["prompt"]
        if "\n" in prompt or "\r" in prompt:
            raise forms.ValidationError("one line only")
        return prompt
