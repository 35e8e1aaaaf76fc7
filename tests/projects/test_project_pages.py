"""The dashboard's project pages: the list, create (the one creation service, its refusals in
the form), edit and delete with confirmation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.test import Client
from django.utils import timezone

from projects.models import Project
from runs.models import Attempt, RunStatus
from tests.projects.builders import make_run, make_task


def test_the_list_shows_tasks_runs_and_running_agents(client: Client, project: Project) -> None:
    task = make_task(project, "t1")
    make_run(task, RunStatus.SUCCESS)
    make_run(task, RunStatus.RUNNING)
    Project.objects.create(id="empty")

    page = client.get("/ui/").content.decode()

    assert 'href="/ui/projects/demo/"' in page and 'href="/ui/projects/empty/"' in page
    assert "1 running" in page


def test_the_list_takes_two_queries_however_many_projects(
    client: Client, project: Project, django_assert_num_queries: Any
) -> None:
    for number in range(5):
        make_run(make_task(Project.objects.create(id=f"p{number}"), "t"), RunStatus.RUNNING)

    with django_assert_num_queries(2):
        page = client.get("/ui/").content.decode()

    assert page.count("1 running") == 5


def test_the_worktree_disk_usage_is_what_the_workers_measured_of_present_worktrees(
    client: Client, project: Project
) -> None:
    """Stored by the owning workers (tests/runs/test_worktree_archive.py measures for real):
    the page reads the sum, and an archived worktree no longer counts."""
    for task_id, size, archived in [("t1", 2048, None), ("t2", 10_000_000, timezone.now())]:
        attempt = make_run(make_task(project, task_id)).attempt
        Attempt.objects.filter(id=attempt.id).update(
            worktree_path=f"/somewhere/{task_id}",
            worktree_disk_bytes=size,
            worktree_archived_at=archived,
        )

    row = client.get("/ui/").content.decode().split('href="/ui/projects/demo/"')[1]
    assert row.split("</tr>")[0].rstrip().endswith('<td class="num">2.0\xa0KB</td>')


def test_creating_a_project_from_the_form(db: None, client: Client, git_repo: Path) -> None:
    form = {
        "project_id": "web",
        "project_root": str(git_repo),
        "name": "Web app",
        "default_branch": "main",
        "setup_script": "npm ci\n",
        "copy_files": ".env\n\n config/*.local \n",
    }

    response = client.post("/ui/projects/new/", form)

    assert response.status_code == 302
    assert response["Location"] == "/ui/projects/web/"
    project = Project.objects.get(id="web")
    assert project.name == "Web app" and project.setup_script == "npm ci\n"
    assert project.copy_files == [".env", "config/*.local"]
    assert "Project web created." in client.get(response["Location"]).content.decode()


def test_the_creation_services_refusals_are_shown_in_the_form(
    client: Client, project: Project, git_repo: Path
) -> None:
    cases = [
        ({"project_id": "new", "project_root": "relative/path"}, "must be an absolute path"),
        ({"project_id": "new", "project_root": "/no/such/dir"}, "is not an existing directory"),
        ({"project_id": "bad id", "project_root": str(git_repo)}, "must be 1-128 characters"),
        ({"project_id": "demo", "project_root": str(git_repo)}, "already exists"),
        (
            {"project_id": "new", "project_root": str(git_repo), "default_branch": "a..b"},
            "is not a valid branch name",
        ),
    ]
    for form, message in cases:
        response = client.post("/ui/projects/new/", form)

        assert response.status_code == 200, form
        assert message in response.content.decode(), form
    assert list(Project.objects.values_list("id", flat=True)) == ["demo"]


def test_the_form_clones_a_repo_url_or_asks_for_one_of_the_two(
    db: None, client: Client, git_repo: Path
) -> None:
    neither = client.post("/ui/projects/new/", {"project_id": "none"})
    both = client.post(
        "/ui/projects/new/",
        {"project_id": "two", "project_root": str(git_repo), "repo_url": f"file://{git_repo}"},
    )
    cloned = client.post(
        "/ui/projects/new/", {"project_id": "copy", "repo_url": f"file://{git_repo}"}
    )

    assert "This field is required." in neither.content.decode()
    assert "give repo_url or project_root, not both" in both.content.decode()
    assert cloned.status_code == 302, cloned.content.decode()
    project = Project.objects.get(id="copy")
    assert project.repo_url == f"file://{git_repo}"
    assert (Path(project.project_root) / "README.md").read_text() == "# demo\n"


def test_the_folder_picker_reads_the_filesystem_api_with_the_session(
    db: None, client: Client, settings: Any, git_repo: Path
) -> None:
    """Mounted under /ui/api/v1/ (`conductor_site.auth.session_api_urls`), with its answers
    and its refusals in the error shape."""
    settings.CONDUCTOR = {**settings.CONDUCTOR, "BROWSE_ROOTS": [str(git_repo.parent)]}
    page = client.get("/ui/projects/new/").content.decode()
    found = client.get("/ui/api/v1/filesystem/repositories", {"path": str(git_repo.parent)})
    refused = client.get("/ui/api/v1/filesystem/browse", {"path": "/etc"})

    assert 'id="folder-picker"' in page and 'data-target="id_project_root"' in page
    assert [repo["path"] for repo in found.json()["repositories"]] == [str(git_repo.resolve())]
    assert refused.status_code == 400
    assert refused.json()["code"] == "BAD_REQUEST"
    assert "outside the folders Conductor may browse" in refused.json()["error"]


def test_the_form_suggests_the_folders_of_existing_projects(
    client: Client, project: Project
) -> None:
    page = client.get("/ui/projects/new/").content.decode()

    assert 'list="home-dirs"' in page
    assert f'<datalist id="home-dirs"><option value="{project.project_root}">' in page


def test_editing_a_project_runs_the_same_checks(client: Client, project: Project) -> None:
    url = "/ui/projects/demo/edit/"
    refused = client.post(url, {"project_root": "not/absolute"})
    saved = client.post(url, {"name": "Demo", "project_root": project.project_root})

    assert "must be an absolute path" in refused.content.decode()
    assert saved.status_code == 302
    project.refresh_from_db()
    assert project.name == "Demo"


def test_deleting_asks_first_then_deletes(client: Client, project: Project) -> None:
    make_task(project, "t1")

    confirm = client.get("/ui/projects/demo/delete/")
    assert "Delete project demo?" in confirm.content.decode()
    assert Project.objects.exists()

    deleted = client.post("/ui/projects/demo/delete/")
    assert deleted.status_code == 302 and deleted["Location"] == "/ui/"
    assert not Project.objects.exists()


def test_deleting_a_project_with_active_runs_needs_the_stop_box(
    client: Client, project: Project
) -> None:
    make_run(make_task(project, "t1"), RunStatus.QUEUED)

    confirm = client.get("/ui/projects/demo/delete/").content.decode()
    refused = client.post("/ui/projects/demo/delete/")

    assert 'name="force"' in confirm
    assert "has active runs" in refused.content.decode()
    assert Project.objects.filter(id="demo").exists()


def test_an_unknown_project_is_a_404(client: Client, db: None) -> None:
    for path in ["/ui/projects/nope/", "/ui/projects/nope/edit/", "/ui/projects/nope/delete/"]:
        assert client.get(path).status_code == 404


def test_a_dashboard_404_is_a_page_not_json(client: Client, db: None) -> None:
    response = client.get("/ui/projects/nope/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "Back to the projects" in response.content.decode()
