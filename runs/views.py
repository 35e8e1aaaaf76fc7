"""The dashboard's Now page (every run that is active, across projects, with stop) and its
Agents page (agent profiles, and which agent CLIs this server finds, with their versions)."""

from __future__ import annotations

import os

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from projects.models import AgentProfile
from runs.agents import agents_installed
from runs.forms import AgentProfileForm
from runs.models import ACTIVE_STATUSES, Run
from runs.services import run_stop

NOW_LIMIT = 500


@require_safe
def now(request: HttpRequest) -> HttpResponse:
    """Running runs first, then those waiting (for a worker, a slot or their dependencies),
    oldest first in each; at most `NOW_LIMIT` of them, with how many there are in all."""
    active = Run.objects.filter(status__in=ACTIVE_STATUSES).select_related("attempt__task")
    runs = list(active.defer("prompt").order_by("-status", "created_at", "id")[:NOW_LIMIT])
    context = {"section": "now", "runs": runs, "total": active.count(), "limit": NOW_LIMIT}
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
