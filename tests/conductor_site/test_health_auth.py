"""Health, version, the API key and the JSON 404."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from projects.models import Project
from tasks.models import Task

KEY = "s3cret"
UNAUTHORIZED = {"error": "unauthorized", "message": "valid API key required"}
PROTECTED = "/api/v1/tasks/t1?project_id=demo"


@pytest.fixture
def api_key(settings: Settings) -> str:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": KEY}
    return KEY


@pytest.fixture
def task(project: Project) -> Task:
    return Task.objects.create(project=project, task_id="t1", prompt="true", agent_type="shell")


def assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401, response.content
    assert response.json() == UNAUTHORIZED
    assert response["WWW-Authenticate"] == 'Bearer realm="conductor"'
    assert response["Content-Type"].startswith("application/json")


def test_health_is_ok(db: None, api: APIClient) -> None:
    response = api.get("/api/v1/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_version_is_a_non_empty_string(db: None, api: APIClient) -> None:
    response = api.get("/api/v1/version")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"version"}
    assert isinstance(body["version"], str) and body["version"].strip()


def test_without_a_configured_key_every_route_is_open(db: None, api: APIClient, task: Task) -> None:
    assert api.get(PROTECTED).status_code == 200


def test_a_protected_route_without_a_key_is_401(
    db: None, api: APIClient, api_key: str, task: Task
) -> None:
    assert_unauthorized(api.get(PROTECTED))


def test_a_protected_post_without_a_key_is_401_and_does_nothing(
    db: None, api: APIClient, api_key: str
) -> None:
    body = {"project_id": "demo", "task_id": "t1", "agent_type": "shell", "prompt": "true"}

    assert_unauthorized(api.post("/api/v1/tasks", body, format="json"))
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_AUTHORIZATION": "Bearer wrong"},
        {"HTTP_X_API_KEY": "wrong"},
        {"HTTP_AUTHORIZATION": f"Basic {KEY}"},
        {"HTTP_AUTHORIZATION": "Bearer "},
        {"HTTP_X_API_KEY": KEY.upper()},
        {"HTTP_X_API_KEY": KEY + "x"},
    ],
)
def test_a_wrong_key_is_401(
    db: None, api: APIClient, api_key: str, task: Task, headers: dict[str, str]
) -> None:
    assert_unauthorized(api.get(PROTECTED, **headers))  # type: ignore[arg-type]


def test_a_bearer_token_is_accepted(db: None, api: APIClient, api_key: str, task: Task) -> None:
    response = api.get(PROTECTED, HTTP_AUTHORIZATION=f"Bearer {KEY}")

    assert response.status_code == 200, response.content
    assert response.json()["task_id"] == "t1"


def test_an_x_api_key_header_is_accepted(
    db: None, api: APIClient, api_key: str, task: Task
) -> None:
    response = api.get(PROTECTED, HTTP_X_API_KEY=KEY)

    assert response.status_code == 200, response.content
    assert response.json()["task_id"] == "t1"


@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/version", "/metrics"])
def test_health_version_and_metrics_stay_open(
    db: None, api: APIClient, api_key: str, path: str
) -> None:
    assert api.get(path).status_code == 200


def test_a_cors_preflight_is_not_blocked(db: None, api: APIClient, api_key: str) -> None:
    response = api.options(
        "/api/v1/tasks",
        HTTP_ORIGIN="http://localhost:5173",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )

    assert response.status_code != 401


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/runs/a/b/c", "/nope"])
def test_an_unknown_url_is_a_json_404(db: None, api: APIClient, path: str) -> None:
    response = api.get(path)

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "code", "details"}
    assert body["code"] == "NOT_FOUND"
    assert path in body["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/messages/stream?project_id=demo",
        "/api/v1/runs/stream/all",
        "/api/projects",
        "/api/v1/admin/self-update",
        "/api/schema/",
        "/admin/",
    ],
)
def test_streams_projects_admin_and_the_schema_are_protected(
    db: None, api: APIClient, api_key: str, path: str
) -> None:
    assert_unauthorized(api.get(path))


@pytest.mark.parametrize(
    "path",
    ["/ui", "/ui/", "/ui/assets/app.js", "/static/admin/css/base.css", "/metrics/"],
)
def test_the_ui_and_static_assets_are_exempt(
    db: None, api: APIClient, api_key: str, path: str
) -> None:
    assert api.get(path).status_code != 401


def test_the_ui_page_needs_no_key_and_points_to_the_api_docs(db: None, api: APIClient) -> None:
    response = api.get("/ui/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert 'href="/api/docs/"' in response.content.decode()


def test_with_a_key_the_ui_asks_for_a_sign_in_not_the_key(
    db: None, api: APIClient, api_key: str
) -> None:
    response = api.get("/ui/")

    assert response.status_code == 302
    assert response["Location"] == "/ui/sign-in/?next=/ui/"


@pytest.mark.parametrize("path", ["/ui", "/"])
def test_the_root_and_ui_without_a_slash_lead_to_the_ui_page(
    db: None, api: APIClient, path: str
) -> None:
    response = api.get(path)

    assert response.status_code == 302
    assert response["Location"] == "/ui/"
