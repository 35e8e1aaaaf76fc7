"""The dashboard's Now page (every run that is active, across projects, with stop), its
Agents page (agent profiles, and which agent CLIs this server finds, with their versions) and
an attempt's review page (its diff, its branch status, and landing it).

The review page renders the attempt; its diff and branch status are read after the page, by
`static/ui/review.js` from the attempts API mounted for the session under /ui/api/v1/
(`conductor_site.auth.session_api_urls`): a worktree is read on the worker that owns it, which
may take seconds, and no page waits on that."""

from __future__ import annotations

import os

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from projects.models import AgentProfile
from runs.agents import agents_installed
from runs.forms import AgentProfileForm
from runs.models import ACTIVE_STATUSES, Attempt, MergeStrategy, Run
from runs.selectors import workers_with_load
from runs.services import run_stop

NOW_LIMIT = 500


@require_safe
def now(request: HttpRequest) -> HttpResponse:
    """Running runs first, then those waiting (for a worker, a slot or their dependencies),
    oldest first in each; at most `NOW_LIMIT` of them, with how many there are in all. In
    production mode, the worker hosts too, with their heartbeats and the runs each holds (in
    embedded mode the server is the one worker)."""
    active = Run.objects.filter(status__in=ACTIVE_STATUSES).select_related("attempt__task")
    runs = list(active.defer("prompt").order_by("-status", "created_at", "id")[:NOW_LIMIT])
    context = {
        "section": "now",
        "runs": runs,
        "total": active.count(),
        "limit": NOW_LIMIT,
        "workers": None if settings.EMBEDDED else workers_with_load(),
    }
    return render(request, "runs/now.html", context)


@require_POST
def run_stop_view(request: HttpRequest, run_id: str) -> HttpResponse:
    run = get_object_or_404(Run.objects.select_related("attempt__task"), id=run_id)
    status = run_stop(run)
    task = run.attempt.task
    messages.success(
        request, f"Stop sent to {run.id} ({task.project_id}/{task.task_id}): {status}."
    )
    return redirect("now")


@require_safe
def agent_list(request: HttpRequest) -> HttpResponse:
    context = {
        "section": "agents",
        "profiles": AgentProfile.objects.all(),
        "installed": agents_installed(os.environ.get("PATH", "")),
    }
    return render(request, "runs/agents.html", context)


@require_http_methods(["GET", "POST"])
def agent_edit(request: HttpRequest, name: str | None = None) -> HttpResponse:
    """A new profile, or the one named."""
    profile = get_object_or_404(AgentProfile, name=name) if name is not None else None
    form = AgentProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, f"Agent profile {saved.name} saved.")
        return redirect("agent-list")
    return render(
        request, "runs/agent_form.html", {"section": "agents", "form": form, "profile": profile}
    )


@require_safe
def attempt_review(request: HttpRequest, attempt_id: str) -> HttpResponse:
    attempt = get_object_or_404(Attempt.objects.select_related("task__project"), id=attempt_id)
    context = {
        "section": "projects",
        "attempt": attempt,
        "task": attempt.task,
        "active": attempt.status in ACTIVE_STATUSES,
        "strategies": MergeStrategy.choices,
    }
    return render(request, "runs/attempt_review.html", context)
