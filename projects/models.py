from __future__ import annotations

from django.db import models

from conductor_site.ids import identifier_validator
from projects import git


class Project(models.Model):
    """A repository (or, without one, a plain folder) that tasks run against."""

    id = models.CharField(primary_key=True, max_length=128, validators=[identifier_validator])
    name = models.CharField(max_length=200, blank=True)
    project_root = models.CharField(
        max_length=4096, blank=True, help_text="Absolute path of the repository; empty: none."
    )
    repo_url = models.CharField(
        max_length=2048,
        blank=True,
        help_text="The URL `project_root` was cloned from, credentials redacted; empty: none.",
    )
    default_branch = models.CharField(
        max_length=255, blank=True, help_text="Base and target branch; empty: the repo's HEAD."
    )
    setup_script = models.TextField(blank=True, help_text="Bash, run in the worktree first.")
    cleanup_script = models.TextField(blank=True, help_text="Bash, run after the agent.")
    dev_server_script = models.TextField(blank=True)
    copy_files = models.JSONField(
        default=list, blank=True, help_text="Globs of files copied from the repo into worktrees."
    )
    env = models.JSONField(default=dict, blank=True, help_text="Extra environment for runs.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.id

    @property
    def has_repository(self) -> bool:
        """`project_root` is a git work tree: attempts get worktrees; else the task folder."""
        return bool(self.project_root) and git.is_repository(self.project_root)


class AgentProfile(models.Model):
    """An agent type plus the options to run it with; tasks name a profile or a bare type."""

    name = models.CharField(max_length=128, unique=True, validators=[identifier_validator])
    agent_type = models.CharField(max_length=32)
    model = models.CharField(max_length=200, blank=True)
    flags = models.JSONField(default=list, blank=True, help_text="Extra command-line arguments.")
    env = models.JSONField(default=dict, blank=True)
    command = models.CharField(
        max_length=4096,
        blank=True,
        help_text="Replaces the agent's executable; for 'custom', a template where {prompt} "
        "stands for the prompt (else the prompt goes on stdin).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.agent_type})"
