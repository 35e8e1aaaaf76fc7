"""Every error is JSON in the one shape, whoever produced it: DRF, Django or a plain view."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from projects.models import Project
from tests import helpers

pytestmark = pytest.mark.urls("tests.conductor_site.error_urls")


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The one error shape (`tests.helpers.assert_error`), naming its request."""
    body = helpers.assert_error(response, status, code)
    assert response["X-Request-ID"]
    return body


def test_a_validation_error_is_a_400(db: None, api: APIClient) -> None:
    body = assert_error(api.post("/api/v1/tasks", {}, format="json"), 400, "BAD_REQUEST")

    assert "project_id" in body["error"]
    assert "project_id" in body["details"]["fields"]


def test_malformed_json_is_a_400(db: None, api: APIClient) -> None:
    response = api.post("/api/v1/tasks", b"{nope", content_type="application/json")

    assert assert_error(response, 400, "BAD_REQUEST")["error"].startswith("invalid JSON")


def test_a_disallowed_host_is_a_json_400(db: None, api: APIClient, settings: Settings) -> None:
    settings.ALLOWED_HOSTS = ["conductor.example"]

    body = assert_error(api.get("/api/v1/tasks", HTTP_HOST="evil.example"), 400, "BAD_REQUEST")

    assert "evil.example" in body["error"]


@pytest.mark.parametrize(
    ("path", "message"),
    [("/test/bad-text", "the widget is upside down"), ("/test/bad-html", "bad request")],
)
def test_a_plain_views_400_becomes_json(db: None, api: APIClient, path: str, message: str) -> None:
    assert assert_error(api.get(path), 400, "BAD_REQUEST")["error"] == message


def test_a_permission_denied_is_a_json_403(db: None, api: APIClient) -> None:
    assert assert_error(api.get("/test/forbidden"), 403, "FORBIDDEN")["error"] == "not yours"


def test_a_csrf_failure_is_a_json_403(db: None) -> None:
    browser = Client(enforce_csrf_checks=True)

    body = assert_error(browser.post("/test/form", {"a": "b"}), 403, "FORBIDDEN")

    assert body["error"].startswith("CSRF verification failed")


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/test/missing"])
def test_django_404s_are_json(db: None, api: APIClient, path: str) -> None:
    assert path in assert_error(api.get(path), 404, "NOT_FOUND")["error"]


def test_an_api_404_is_json(db: None, api: APIClient) -> None:
    assert_error(api.get("/api/v1/tasks/ghost?project_id=demo"), 404, "NOT_FOUND")


def test_a_browser_gets_the_browsable_api_but_its_errors_are_json(db: None, api: APIClient) -> None:
    page = api.get("/api/v1/runs", HTTP_ACCEPT="text/html,application/xhtml+xml")
    error = api.get("/api/v1/runs/nope", HTTP_ACCEPT="text/html,application/xhtml+xml")

    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert b"Django REST framework" in page.content
    assert error.status_code == 404 and error["Content-Type"] == "application/json"
    assert error.json()["code"] == "NOT_FOUND"


def test_a_wrong_method_on_an_api_view_is_a_json_405(db: None, api: APIClient) -> None:
    response = api.put("/api/v1/tasks", {}, format="json")

    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response["Allow"]


def test_a_wrong_method_on_a_plain_view_is_a_json_405(db: None, api: APIClient) -> None:
    response = api.delete("/test/get-only")

    body = assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert body["error"] == "method DELETE not allowed on /test/get-only"
    assert "GET" in body["details"]["allowed"]
    assert "GET" in response["Allow"]


def test_a_conflict_is_a_json_409(db: None, api: APIClient, git_repo: Path) -> None:
    body = {"project_id": "p1", "project_root": str(git_repo)}
    assert api.post("/api/projects", body, format="json").status_code == 201

    assert_error(api.post("/api/projects", body, format="json"), 409, "CONFLICT")


def test_disabled_task_start_is_a_json_503(
    db: None, api: APIClient, settings: Settings, project: Project
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "DISABLE_TASK_START": True}
    body = {"project_id": "demo", "task_id": "t1", "agent_type": "shell", "prompt": "true"}

    assert_error(api.post("/api/v1/tasks", body, format="json"), 503, "UNAVAILABLE")


def test_a_bug_in_an_api_view_is_a_logged_json_500(
    db: None, api: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="conductor.errors"):
        response = api.get("/test/broken-api", HTTP_X_REQUEST_ID="req-bug")

    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert body["details"] == {"request_id": "req-bug"}
    assert "a bug" not in body["error"]
    [record] = [r for r in caplog.records if r.name == "conductor.errors"]
    assert "req-bug" in record.getMessage()
    assert record.exc_info and "a bug in an API view" in str(record.exc_info[1])


def test_a_bug_in_a_plain_view_is_a_json_500(db: None) -> None:
    client = Client(raise_request_exception=False)

    body = assert_error(client.get("/test/broken-view"), 500, "INTERNAL_ERROR")

    assert body["details"]["request_id"].startswith("req-")


def test_the_401_keeps_the_contracts_exact_body(
    db: None, api: APIClient, settings: Settings
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "k"}

    response = api.get("/api/v1/tasks")

    assert response.status_code == 401
    assert response.content == b'{"error":"unauthorized","message":"valid API key required"}'


def test_errors_stay_json_with_debug_on(db: None, api: APIClient, settings: Settings) -> None:
    settings.DEBUG = True

    assert_error(api.get("/api/v1/nope"), 404, "NOT_FOUND")
    assert_error(api.delete("/test/get-only"), 405, "METHOD_NOT_ALLOWED")


def test_a_browser_asking_for_html_still_gets_json(db: None, api: APIClient) -> None:
    response = api.get("/api/v1/tasks/ghost?project_id=demo", HTTP_ACCEPT="text/html,*/*;q=0.8")

    assert_error(response, 404, "NOT_FOUND")
