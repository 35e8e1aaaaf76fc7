"""Adding or editing a project in the admin: the same checks as every other route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from projects.models import Project

ADD = "/admin/projects/project/add/"


@pytest.fixture
def admin_client(db: None, client: Client, django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def form(**fields: str) -> dict[str, str]:
    return {"id": "p1", "copy_files": "[]", "env": "{}", **fields}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": "_audit"}, "reserved"),
        ({"project_root": "relative/dir"}, "absolute"),
        ({"project_root": "/tmp/" + "a" * 300}, "cannot be used"),
        ({"default_branch": "-x"}, "not a valid branch name"),
    ],
)
def test_a_project_the_api_would_refuse_is_refused(
    admin_client: Client, fields: dict[str, str], message: str
) -> None:
    response = admin_client.post(ADD, form(**fields))

    assert response.status_code == 200, "the form again, with the error"
    assert message in response.content.decode()
    assert not Project.objects.exists()


def test_a_project_root_inside_the_data_dir_is_refused_on_edit_too(admin_client: Client) -> None:
    Project.objects.create(id="p1")
    inside = Path(settings.DATA_DIR) / "inside"
    inside.mkdir()

    response = admin_client.post(
        "/admin/projects/project/p1/change/", form(project_root=str(inside))
    )

    assert response.status_code == 200
    assert "outside Conductor" in response.content.decode()
    assert Project.objects.get(id="p1").project_root == ""


def test_a_good_project_is_saved_with_its_home_folder_resolved(
    admin_client: Client, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "link").symlink_to(home)

    response = admin_client.post(ADD, form(project_root=str(tmp_path / "link")))

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Project.objects.get(id="p1").project_root == str(home.resolve())
