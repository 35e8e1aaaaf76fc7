"""The dashboard's Now page (every run that is active, across projects, with stop), its
Agents page (agent profiles, and which agent CLIs this server finds, with their versions),
the attempt page: a header with stop, and the selected run's conversation and raw log, and
the attempt's review page (its diff, its branch status, and landing it).

The raw log is live from `/ws/runs/<r>/logs/` and the conversation from
`/ws/runs/<r>/entries/`, drawn in the browser (`static/ui/conversation.js`); the page's
session stands in for the key on the dashboard's own origin (`conductor_site.live.consumers`).
The stored log comes in one read first (`run_log_lines`), and the full log downloads from
`run_log_download`.

The review page renders the attempt; its diff and branch status are read after the page, by
`static/ui/review.js`: the diff live from `/ws/attempts/<a>/diff/`, the rest from the attempts
API mounted for the session under /ui/api/v1/ (`conductor_site.auth.session_api_urls`), which
the attempt page's follow-up, draft, retry, dev server and archive call too: a worktree is
read on the worker that owns it, which may take seconds, and no page waits on that.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from conductor_site.errors import error_json
from conductor_site.ids import is_identifier
from conductor_site.live.history import newest_id
from projects.models import AgentProfile
from runs.agents import UnknownAgent, agent_for, agents_installed
from runs.agents.trial import agent_trial
from runs.files import run_file_text
from runs.forms import AgentProfileForm, AgentTrialForm
from runs.models import ACTIVE_STATUSES, Attempt, LogChunk, MergeStrategy, Run
from runs.selectors import workers_with_load
from runs.services import attempt_stop, run_stop
from runs.streams.run_reads import Chunk

# Rows on Now: a row is ~0.15 ms to render, so 500 of them took ~90 ms of CPU at 10,000 tasks
# (bench/dashboard.py), at the dashboard's 100 ms bound, and the live page reads them again
# on every change; 200 take ~40 ms. The count of all of them is shown.
NOW_LIMIT = 200
LOG_STREAMS = ("stdout", "stderr")


@require_safe
def now(request: HttpRequest) -> HttpResponse:
    """Running runs first, then those waiting (for a worker, a slot or their dependencies),
    oldest first in each; at most `NOW_LIMIT` of them, with how many there are in all. In
    production mode, the worker hosts too, with their heartbeats and the runs each holds (in
    embedded mode the server is the one worker). The page follows `/ws/events/` from the
    event id read before the runs (`static/ui/now_live.js`), so a change while the page is
    made is seen twice, never missed, and reads `now_live` again on each change."""
    cursor = newest_id()
    context = {"section": "now", "cursor": cursor, **_now_context()}
    return render(request, "runs/now.html", context)


@require_safe
def now_live(request: HttpRequest) -> HttpResponse:
    """The Now page's body (its runs and its workers) as a partial, read again by the page
    when a run or an attempt changes."""
    return render(request, "runs/now_live.html", _now_context())


def _now_context() -> dict[str, object]:
    active = Run.objects.filter(status__in=ACTIVE_STATUSES).select_related("attempt__task")
    runs = list(active.defer("prompt").order_by("-status", "created_at", "id")[:NOW_LIMIT])
    return {
        "runs": runs,
        "total": active.count(),
        "limit": NOW_LIMIT,
        "workers": None if settings.EMBEDDED else workers_with_load(),
    }


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
        "trial_form": AgentTrialForm(),
    }
    return render(request, "runs/agents.html", context)


@require_POST
def agent_trial_view(request: HttpRequest) -> HttpResponse:
    """The test button: the prompt's result (exit code and output), or why the agent could
    not run, as a partial for the Agents page; an invalid form is a 400 in the error shape."""
    form = AgentTrialForm(request.POST)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        message = f"invalid agent test: {field}: {errors[0]}"
        return error_json(400, message, fields=form.errors.get_json_data())
    result = agent_trial(form.cleaned_data["agent"], form.cleaned_data["prompt"])
    return render(request, "runs/agent_trial.html", {"result": result})


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
def attempt_detail(request: HttpRequest, attempt_id: str) -> HttpResponse:
    """`?run=` selects one of the attempt's runs; by default its latest agent run."""
    attempt = get_object_or_404(Attempt.objects.select_related("task__project"), id=attempt_id)
    runs = list(attempt.runs.defer("prompt").order_by("created_at", "id"))
    selected = _selected_run(runs, request.GET.get("run", ""))
    context = {
        "section": "projects",
        "attempt": attempt,
        "task": attempt.task,
        "runs": runs,
        "run": selected,
        "active": any(run.is_active for run in runs) or attempt.status in ACTIVE_STATUSES,
        "dropped": sum(run.dropped_at is not None for run in runs),
        "tab": _default_tab(attempt, selected),
    }
    return render(request, "runs/attempt.html", context)


def _selected_run(runs: list[Run], wanted: str) -> Run | None:
    if wanted:
        for run in runs:
            if run.id == wanted:
                return run
        raise Http404(f"the attempt has no run {wanted!r}")
    agents = [run for run in runs if run.kind == Run.Kind.AGENT]
    return (agents or runs)[-1] if runs else None


def _default_tab(attempt: Attempt, run: Run | None) -> str:
    """The conversation for an agent's run; the raw log for scripts (a shell agent, setup,
    cleanup, dev server), whose conversation would only repeat it."""
    if run is None or run.kind != Run.Kind.AGENT:
        return "log"
    try:
        return "log" if agent_for(attempt.agent).type == "shell" else "conversation"
    except UnknownAgent:  # the profile was deleted since
        return "conversation"


@require_POST
def attempt_stop_view(request: HttpRequest, attempt_id: str) -> HttpResponse:
    """The attempt page's Stop (the page asks first): as `POST /api/v1/attempts/<a>/stop`,
    without waiting for the runs to end, which the page shows live."""
    attempt = get_object_or_404(Attempt, id=attempt_id)
    stopped = attempt_stop(attempt)
    messages.success(request, f"Stop sent to {len(stopped)} run{'s' if len(stopped) != 1 else ''}.")
    return redirect("attempt", attempt_id=attempt.id)


@require_safe
def run_log_lines(request: HttpRequest, run_id: str) -> JsonResponse:
    """The stored log at once, `{lines, cursor}`, so a long log opens in one read; the page
    then follows `/ws/runs/<r>/logs/?after=<cursor>` (a frame a line would take minutes for
    100,000 lines). Lines in `seq` order, numbered as the stream numbers them."""
    run = _script_run(run_id)
    if isinstance(run, JsonResponse):
        return run
    lines: list[str] = []
    cursor = ""
    chunks = LogChunk.objects.filter(run=run).order_by("seq").values_list("seq", "stream", "text")
    for seq, stream, text in chunks.iterator(chunk_size=200):
        numbered = Chunk(seq, stream, text, "").lines()
        lines.extend(numbered)
        cursor = f"{seq}:{len(numbered) - 1}" if numbered else cursor
    return JsonResponse({"lines": lines, "cursor": cursor})


def _script_run(run_id: str) -> Run | JsonResponse:
    """The run a page's script asks for, or its refusal in the error shape (a script reads
    it, where a person following a link gets the 404 page)."""
    if not is_identifier(run_id):
        return error_json(400, f"invalid run id {run_id!r}")
    run = Run.objects.filter(id=run_id).first()
    return run if run is not None else error_json(404, f"run {run_id!r} not found")


@require_safe
def run_log_download(request: HttpRequest, run_id: str, stream: str) -> HttpResponse:
    """The run's whole stdout or stderr as a file, from the stored log."""
    run = get_object_or_404(Run.objects.select_related("attempt__task"), id=run_id)
    if stream not in LOG_STREAMS:
        return error_json(400, f"unknown stream {stream!r}: use stdout or stderr")
    text = run_file_text(run, stream) or ""
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{run.id}-{stream}.log"'
    return response


@require_safe
def attempt_review(request: HttpRequest, attempt_id: str) -> HttpResponse:
    attempt = get_object_or_404(Attempt.objects.select_related("task__project"), id=attempt_id)
    context = {
        "section": "projects",
        "attempt": attempt,
        "task": attempt.task,
        "strategies": MergeStrategy.choices,
    }
    return render(request, "runs/attempt_review.html", context)
