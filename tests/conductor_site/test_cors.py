"""CORS: only configured origins, the methods and headers the clients need, preflights open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from tests.conductor_site.conftest import Serve, http_status
from tests.processes import free_port

ORIGIN = "http://localhost:3000"


@pytest.fixture
def cors(settings: Settings) -> str:
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN, "https://app.example.com"]
    return ORIGIN


def preflight(api: APIClient, origin: str, headers: str = "content-type") -> Any:
    return api.options(
        "/api/v1/tasks",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
    )


def test_a_preflight_from_a_configured_origin_is_granted(
    db: None, api: APIClient, cors: str
) -> None:
    response = preflight(api, cors, "content-type, authorization, x-api-key")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    methods = {m.strip() for m in response["Access-Control-Allow-Methods"].split(",")}
    assert methods == {"GET", "POST", "DELETE", "OPTIONS"}
    headers = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert headers == {
        "content-type",
        "authorization",
        "x-api-key",
        "x-conductor-client",
        "x-request-id",
        "last-event-id",
    }


def test_a_request_from_a_configured_origin_can_read_the_request_id(
    db: None, api: APIClient, cors: str
) -> None:
    response = api.get("/api/v1/health", HTTP_ORIGIN=ORIGIN)

    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert (
        response["Access-Control-Expose-Headers"]
        == "X-Request-ID, X-Total-Count, X-Limit, X-Offset"
    )
    assert response["X-Request-ID"]


def test_an_unconfigured_origin_is_not_granted(db: None, api: APIClient, cors: str) -> None:
    evil = "http://evil.example"
    for response in (preflight(api, evil), api.get("/api/v1/health", HTTP_ORIGIN=evil)):
        assert "Access-Control-Allow-Origin" not in response


def test_without_configured_origins_nothing_is_granted(db: None, api: APIClient) -> None:
    response = preflight(api, ORIGIN)

    assert "Access-Control-Allow-Origin" not in response


def test_with_auth_on_a_preflight_needs_no_key_and_a_401_still_carries_cors(
    db: None, api: APIClient, cors: str, settings: Settings
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "k"}

    granted = preflight(api, ORIGIN, "authorization")
    refused = api.get("/api/v1/tasks", HTTP_ORIGIN=ORIGIN)
    allowed = api.get("/api/v1/tasks", HTTP_ORIGIN=ORIGIN, HTTP_AUTHORIZATION="Bearer k")

    assert granted.status_code == 200
    assert granted["Access-Control-Allow-Origin"] == ORIGIN
    assert refused.status_code == 401
    assert refused["Access-Control-Allow-Origin"] == ORIGIN
    assert allowed.status_code == 200


def test_a_plain_options_request_is_not_exempt_from_auth(
    db: None, api: APIClient, settings: Settings
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "k"}

    assert api.options("/api/v1/tasks").status_code == 401


def test_a_server_takes_its_origins_from_the_config_file_or_the_environment(
    tmp_path: Path, serve: Serve
) -> None:
    data_dir, port = tmp_path / "server-data", free_port()
    data_dir.mkdir()
    (data_dir / "config.yaml").write_text(f"api:\n  port: {port}\n  cors_origins: [{ORIGIN}]\n")
    asks = {"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"}

    server = serve(data_dir, port)
    from_file = http_status(port, "/api/v1/tasks", asks, "OPTIONS")[1]
    server.terminate()
    serve(data_dir, port, CONDUCTOR_CORS_ORIGINS="*")
    any_origin = http_status(
        port, "/api/v1/tasks", {**asks, "Origin": "http://x.example"}, "OPTIONS"
    )

    assert from_file["Access-Control-Allow-Origin"] == ORIGIN
    assert any_origin[1]["Access-Control-Allow-Origin"] in ("*", "http://x.example")
