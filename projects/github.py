"""The one wrapper around GitHub's CLI, `gh`: pull requests are made and read through the
user's own `gh`, with its own login; Conductor keeps no GitHub token."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from projects.git import redacted

INSTALL_HINT = (
    "install the GitHub CLI (https://cli.github.com; Debian/Ubuntu: apt install gh) on the "
    "worker that owns the attempt, then run `gh auth login` there"
)


class GhError(Exception):
    """`gh` failed; the message carries its own words (without credentials)."""


class GhUnavailable(GhError):
    """`gh` is not installed, or not logged in: the user has to set it up first."""


@dataclass(frozen=True)
class PullRequest:
    url: str
    number: int
    state: str  # open, closed, merged
    head: str  # its head branch


def gh(repo: str | Path, *args: str, timeout: float = 60) -> str:
    """Run `gh` in the repository (it finds the GitHub repository from its remotes); it never
    prompts (`GH_PROMPT_DISABLED`)."""
    env = {**os.environ, "GH_PROMPT_DISABLED": "1", "GH_NO_UPDATE_NOTIFIER": "1", "NO_COLOR": "1"}
    try:
        done = subprocess.run(
            ["gh", *args], cwd=repo, capture_output=True, text=True, env=env, timeout=timeout
        )
    except FileNotFoundError as exc:
        raise GhUnavailable(f"gh is not installed: {INSTALL_HINT}") from exc
    except subprocess.TimeoutExpired as exc:
        raise GhError(f"gh {args[0]} timed out after {timeout:.0f}s") from exc
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"
        raise GhError(redacted(f"gh {' '.join(args[:2])}: {message}"))
    return done.stdout


def gh_ready(repo: str | Path) -> None:
    """GhUnavailable unless `gh` is installed and logged in (its own words are not repeated:
    `gh auth status` prints account details)."""
    if shutil.which("gh") is None:
        raise GhUnavailable(f"gh is not installed: {INSTALL_HINT}")
    try:
        gh(repo, "auth", "status")
    except GhError as exc:
        raise GhUnavailable(
            "gh is not logged in to GitHub: run `gh auth login` (or set GH_TOKEN) for the "
            "user the worker runs as"
        ) from exc


def pr_create(repo: str | Path, *, head: str, base: str, title: str, body: str) -> str:
    """The new pull request's URL (gh prints it last). Values go as `--flag=value`, so a
    title that starts with `-` stays a title."""
    args = [f"--head={head}", f"--base={base}", f"--title={title}", f"--body={body}"]
    out = gh(repo, "pr", "create", *args)
    return out.strip().splitlines()[-1] if out.strip() else ""


def pr_view(repo: str | Path, selector: str) -> PullRequest:
    """The pull request a URL, number or head branch names."""
    out = gh(repo, "pr", "view", "--json", "url,number,state,headRefName", "--", selector)
    try:
        found = json.loads(out)
        url, number, head = str(found["url"]), int(found["number"]), str(found["headRefName"])
        return PullRequest(url, number, str(found["state"]).lower(), head)
    except (ValueError, KeyError, TypeError) as exc:
        raise GhError(f"gh pr view: unexpected output: {out[:200]!r}") from exc
