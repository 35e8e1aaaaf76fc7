"""The dashboard's project pages: the list (the dashboard's home), create, edit, delete.

Creating goes through `projects.creation.project_create` and deleting through
`projects.services.project_delete`, as the API's routes do; a refusal is shown in the form.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods, require_safe

from projects import selectors
from projects.creation import ProjectExists, ProjectInvalid, project_create
from projects.forms import ProjectCreateForm, ProjectEditForm
from projects.models import Project
from projects.services import project_delete
from runs.services import Busy


@require_safe
def project_list(request: HttpRequest) -> HttpResponse:
    """Two queries for the whole list, however many projects there are."""
    extras = selectors.project_list_extras()
    rows = [
        {
            **summary,
            **extras.get(summary["id"], {}),
            "active_at": parse_datetime(summary["last_activity"] or ""),
        }
        for summary in selectors.project_summaries()
    ]
    return render(request, "projects/list.html", {"section": "projects", "projects": rows})


@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    form = ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(**form.cleaned_data)
        except ProjectInvalid as exc:
            form.refused(exc)
        except ProjectExists as exc:
            form.add_error("project_id", exc.message)
        except OSError as exc:
            form.add_error(None, f"the project's folder could not be made: {exc}")
        else:
            messages.success(request, f"Project {project.id} created.")
            return redirect("board", project_id=project.id)
    context = {"section": "projects", "form": form, "home_dirs": selectors.home_dirs()}
    return render(request, "projects/form.html", context)


@require_http_methods(["GET", "POST"])
def project_edit(request: HttpRequest, project_id: str) -> HttpResponse:
    project = get_object_or_404(Project, id=project_id)
    form = ProjectEditForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Project {project.id} saved.")
        return redirect("board", project_id=project.id)
    context = {"section": "projects", "form": form, "project": project}
    return render(request, "projects/form.html", context)


@require_http_methods(["GET", "POST"])
def project_delete_confirm(request: HttpRequest, project_id: str) -> HttpResponse:
    """Asks first; deleting keeps the repository and its branches (`project_delete`)."""
    project = get_object_or_404(Project, id=project_id)
    if request.method == "POST":
        try:
            tasks, freed = project_delete(project, force=request.POST.get("force") == "on")
        except Busy as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, f"Project {project_id} deleted: {tasks} tasks, {filesizeformat(freed)}."
            )
            return redirect("project-list")
    context = {
        "section": "projects",
        "project": project,
        "summary": selectors.project_summary(project),
        "active": selectors.has_active_work(project.tasks.all()),
    }
    return render(request, "projects/delete.html", context)
