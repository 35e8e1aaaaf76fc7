"""The OpenAPI schema and Swagger UI, and a schemathesis run against a live server."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from django.core.management import call_command
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok

from tests.conftest import wait_for
from tests.helpers import git_cli
from tests.processes import ConductorProcess, Server, clean_env

# The contract's route inventory (contract-checklist.md §0) but /metrics, /ui/ and the CORS
# preflight, plus the routes the real clients call (CONTRACT.md).
CONTRACT_ROUTES = [
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/version"),
    ("GET", "/api/v1/admin/self-update"),
    ("POST", "/api/v1/admin/self-update"),
    ("POST", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks/{task_id}"),
    ("DELETE", "/api/v1/tasks/{task_id}"),
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/runs/{run_id}"),
    ("GET", "/api/v1/runs/{run_id}/info"),
    ("GET", "/api/v1/runs/{run_id}/stream"),
    ("POST", "/api/v1/runs/{run_id}/stop"),
    ("GET", "/api/v1/runs/stream/all"),
    ("GET", "/api/v1/messages"),
    ("GET", "/api/v1/messages/stream"),
    ("POST", "/api/v1/messages"),
    ("GET", "/api/projects"),
    ("POST", "/api/projects"),
    ("GET", "/api/projects/home-dirs"),
    ("GET", "/api/projects/{project_id}/tasks"),
    ("GET", "/api/projects/{project_id}/tasks/{task_id}"),
    ("DELETE", "/api/projects/{project_id}/tasks/{task_id}"),
    ("GET", "/api/projects/{project_id}/tasks/{task_id}/file"),
    ("GET", "/api/projects/{project_id}/tasks/{task_id}/runs/stream"),
    ("GET", "/api/projects/{project_id}/tasks/{task_id}/runs/{run_id}"),
    ("DELETE", "/api/projects/{project_id}/tasks/{task_id}/runs/{run_id}"),
    ("GET", "/api/projects/{project_id}/tasks/{task_id}/runs/{run_id}/file"),
    ("GET", "/api/projects/{project_id}/tasks/{task_id}/runs/{run_id}/stream"),
    ("POST", "/api/projects/{project_id}/tasks/{task_id}/runs/{run_id}/stop"),
    ("POST", "/api/projects/{project_id}/tasks/{task_id}/resume"),
    ("GET", "/api/projects/{project_id}/tasks/{task_id}/messages"),
    ("POST", "/api/projects/{project_id}/tasks/{task_id}/messages"),
    ("GET", "/api/projects/{project_id}/tasks/{task_id}/messages/stream"),
    ("GET", "/api/projects/{project_id}/messages"),
    ("POST", "/api/projects/{project_id}/messages"),
    ("GET", "/api/projects/{project_id}/messages/stream"),
    ("GET", "/api/projects/{project_id}/stats"),
    # What the real clients call besides.
    ("GET", "/api/v1/status"),
    ("GET", "/api/projects/{project_id}/runs/flat"),
    ("GET", "/api/projects/{project_id}/tasks/{task_id}/runs"),
    ("POST", "/api/projects/{project_id}/gc"),
    ("DELETE", "/api/projects/{project_id}"),
]
STREAM_CURSORS = {  # each SSE route and whether it takes a cursor
    "/api/v1/runs/{run_id}/stream": True,
    "/api/v1/runs/stream/all": True,
    "/api/v1/messages/stream": True,
    "/api/projects/{project_id}/messages/stream": True,
    "/api/projects/{project_id}/tasks/{task_id}/messages/stream": True,
    "/api/projects/{project_id}/tasks/{task_id}/runs/stream": True,
    "/api/projects/{project_id}/tasks/{task_id}/runs/{run_id}/stream": False,
}
NOT_IN_THE_SCHEMA = ("/api/schema/", "/api/docs/")


def generated_schema() -> tuple[dict[str, Any], list[str]]:
    """The schema, and every warning and error drf-spectacular had while generating it."""
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    return schema, [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]


def test_the_schema_generates_and_is_valid_openapi(db: None) -> None:
    schema, problems = generated_schema()

    validate_schema(schema)
    assert problems == []
    assert schema["info"]["title"] == "Conductor API"
    for path in ("/api/v1/health", "/api/v1/tasks", "/api/v1/messages", "/api/projects"):
        assert path in schema["paths"]
    assert "/metrics" not in schema["paths"]


def test_the_schema_lists_every_route_of_the_contract_with_its_methods(db: None) -> None:
    schema, _ = generated_schema()

    listed = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert [route for route in CONTRACT_ROUTES if route not in listed] == []


def test_the_schema_lists_every_api_route_the_server_answers(db: None) -> None:
    schema, _ = generated_schema()

    routes = {path for path in url_paths(get_resolver().url_patterns, "/")}
    api_routes = {
        path for path in routes if path.startswith("/api/") and path not in NOT_IN_THE_SCHEMA
    }
    assert api_routes == set(schema["paths"])


def url_paths(patterns: list[Any], prefix: str) -> Iterator[str]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from url_paths(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)  # a router's regex
            yield re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.replace("^", "").replace("$", ""))


def test_every_operation_has_a_readable_id_a_tag_and_typed_answers(db: None) -> None:
    schema, _ = generated_schema()
    operations = [op for item in schema["paths"].values() for op in item.values()]

    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not re.fullmatch(r"[a-z]+(_[a-z0-9]+)*", i)] == []
    for op in operations:
        assert op["tags"], op["operationId"]
        for status, answer in op["responses"].items():
            if status not in ("204", "default"):
                assert answer.get("content"), (op["operationId"], status)
        for error in ("400", "404", "409"):
            if error in op["responses"]:
                assert op["responses"][error]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }


def test_the_streams_are_documented_as_event_streams(db: None) -> None:
    schema, _ = generated_schema()

    for path, takes_cursor in STREAM_CURSORS.items():
        stream = schema["paths"][path]["get"]
        assert list(stream["responses"]["200"]["content"]) == ["text/event-stream"]
        assert stream["tags"] == ["streams"]
        assert stream["security"] == schema["paths"]["/api/v1/tasks"]["get"]["security"]
        assert stream["responses"]["401"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Unauthorized"
        }
        parameters = {(p["in"], p["name"]): p for p in stream["parameters"]}
        assert (("header", "Last-Event-ID") in parameters) is takes_cursor
        assert (("query", "after") in parameters) is takes_cursor
        for name in re.findall(r"{(\w+)}", path):
            assert parameters["path", name]["required"] is True
    messages = schema["paths"]["/api/v1/messages/stream"]["get"]["parameters"]
    assert {"in": "query", "name": "project_id"}.items() <= messages[0].items()
    assert messages[0]["required"] is True
    run_file = schema["paths"]["/api/projects/{project_id}/tasks/{task_id}/runs/{run_id}/stream"]
    name = next(p for p in run_file["get"]["parameters"] if p["name"] == "name")
    assert name["required"] is True
    assert set(name["schema"]["enum"]) == {"output.md", "stdout", "stderr", "prompt"}


def test_the_schema_documents_the_error_shapes_and_the_key(db: None, api: APIClient) -> None:
    response = api.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {
        "error",
        "code",
        "details",
    }
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    create = schema["paths"]["/api/v1/tasks"]["post"]
    assert create["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Unauthorized"
    }
    assert schema["paths"]["/api/v1/health"]["get"]["security"] == []


def test_swagger_ui_is_served_with_local_assets(db: None, api: APIClient) -> None:
    page = api.get("/api/docs/")

    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    # Nothing from another origin: no absolute or protocol-relative URL at all (the page's
    # random CSRF token may spell "cdn", so the check is on addresses, not on the whole text).
    assert not re.findall(r"https?://|[\"'(=]//[^/]", html)
    assets = re.findall(r"""(?:src|href)=["']([^"']+)""", html)
    assert assets and not [url for url in assets if "cdn" in url.lower()]
    asset = api.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_the_schema_and_docs_need_the_key_and_the_assets_do_not(
    db: None, api: APIClient, settings: Settings
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "k"}

    assert api.get("/api/schema/").status_code == 401
    assert api.get("/api/docs/").status_code == 401
    assert api.get("/api/schema/", HTTP_X_API_KEY="k").status_code == 200
    css = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css"
    assert api.get(css).status_code == 200


# schemathesis against a real `conductor serve`, in a data dir of its own. First the API makes
# what the fuzzing can find: a project on a git repository, a task whose shell run ended with
# output on both streams, a message. Then every operation but the streams is fuzzed, about half
# the time on those ids, creating projects, tasks (real shell runs) and messages as it goes. A
# fuzzed task never runs a generated prompt (for the shell agent the prompt is a bash script):
# it runs `FUZZ_PROMPT`. The SSE streams are left out: most never end. It runs embedded, and
# with `-m production` against PostgreSQL, Redis and a worker as well.

SEED_PROMPT = (
    'echo hello; echo oops >&2; echo "# done" > "$CONDUCTOR_RUN_DIR/output.md"; '
    'touch "$CONDUCTOR_TASK_DIR/DONE"'
)
FUZZ_PROMPT = 'echo fuzzed; touch "$CONDUCTOR_TASK_DIR/DONE"'  # DONE: a fuzzed loop ends at once
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
CREATING = ("POST /api/projects", "POST /api/v1/tasks", "POST /api/v1/messages")
NEW_ID = {"POST /api/projects": "project_id", "POST /api/v1/tasks": "task_id"}


@dataclass
class Live:
    url: str
    schema: schemathesis.BaseSchema
    known: dict[str, str]  # a parameter's name -> a value the server knows


def strict_schema(url: str) -> schemathesis.BaseSchema:
    """The served schema with every object schema closed (`additionalProperties: false` where
    it says nothing), so that an undocumented field in an answer fails the schema check."""
    raw = requests.get(f"{url}/api/schema/", params={"format": "json"}, timeout=30).json()
    return schemathesis.openapi.from_dict(closed(raw), config=SchemathesisConfig.from_dict({}))


def closed(node: Any) -> Any:
    if isinstance(node, dict):
        if "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            closed(value)
    elif isinstance(node, list):
        for value in node:
            closed(value)
    return node


def checked_call(
    schema: schemathesis.BaseSchema, url: str, method: str, path: str, status: int, **parts: Any
) -> Any:
    """One request, its answer checked like the fuzzed ones and expected to be `status`."""
    if "body" in parts:
        parts["media_type"] = "application/json"
    case = schema[path][method].Case(**parts)
    response = case.call(base_url=url, timeout=30)
    case.validate_response(response, checks=CHECKS)
    assert response.status_code == status, response.text
    return response.json()


def seed(url: str, project_root: Path) -> dict[str, str]:
    schema = strict_schema(url)
    project = {"project_id": "seeded", "project_root": str(project_root)}
    checked_call(schema, url, "POST", "/api/projects", 201, body=project)
    task = {"project_id": "seeded", "task_id": "t1", "agent_type": "shell", "prompt": SEED_PROMPT}
    run_id = checked_call(schema, url, "POST", "/api/v1/tasks", 201, body=task)["run_id"]

    def ended() -> Any:
        run = checked_call(
            schema, url, "GET", "/api/v1/runs/{run_id}", 200, path_parameters={"run_id": run_id}
        )
        return run if "end_time" in run else None

    assert wait_for(ended, 60, "the seeded run to end")["status"] == "success"
    message = {"project_id": "seeded", "task_id": "t1", "type": "FACT", "body": "a fact"}
    msg_id = checked_call(schema, url, "POST", "/api/v1/messages", 201, body=message)["msg_id"]
    query = {"project_id": "seeded", "task_id": "t1"}
    attempts = checked_call(schema, url, "GET", "/api/v1/attempts", 200, query=query)
    return {
        "project_id": "seeded",
        "task_id": "t1",
        "run_id": run_id,
        "attempt_id": attempts["items"][0]["attempt_id"],
        "after": msg_id,
        "since": msg_id,
    }


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("production", marks=pytest.mark.production)],
)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """The server, embedded, or in production mode (PostgreSQL, where a NUL fails a query,
    Redis and a `conductor worker`) on the test database, emptied afterwards."""
    folder: Path = tmp_path_factory.mktemp("openapi")
    repo = folder / "repo"
    repo.mkdir()
    git_cli(repo, "init", "-q", "-b", "main")
    git_cli(repo, "config", "user.email", "dev@example.com")
    git_cli(repo, "config", "user.name", "Dev")
    git_cli(repo, "commit", "-q", "--allow-empty", "-m", "initial")
    env = production_env(request) if request.param == "production" else {}
    started = []
    if env:
        worker_env = clean_env(CONDUCTOR_DATA_DIR=str(folder / "data"), **env)
        worker = ConductorProcess(["worker", "--name", "fuzz"], worker_env, folder / "worker.log")
        started.append(worker)
        worker.wait_output(" ready.")
    server = Server(folder / "data", folder / "serve.log", None, **env)
    url = f"http://127.0.0.1:{server.port}"
    try:
        known = seed(url, repo)
        yield Live(url, strict_schema(url), {**known, "project_root": str(repo)})
    finally:
        for process in (server, *started):
            process.terminate()
        if env:
            with request.getfixturevalue("django_db_blocker").unblock():
                call_command("flush", interactive=False, verbosity=0)


def production_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if not (os.getenv("DATABASE_URL") and os.getenv("REDIS_URL")):
        if os.getenv("CONDUCTOR_REQUIRE_PRODUCTION"):
            pytest.fail("CONDUCTOR_REQUIRE_PRODUCTION is set but DATABASE_URL or REDIS_URL is not")
        pytest.skip("production mode needs DATABASE_URL (PostgreSQL) and REDIS_URL (Redis)")
    request.getfixturevalue("django_db_setup")
    db = connection.settings_dict
    host = f"{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return {"DATABASE_URL": f"postgres://{host}/{db['NAME']}", "REDIS_URL": os.environ["REDIS_URL"]}


def test_the_seeded_server_answers_the_known_ids(live: Live) -> None:
    task = requests.get(f"{live.url}/api/projects/seeded/tasks/t1", timeout=30).json()

    assert [run["id"] for run in task["runs"]] == [live.known["run_id"]]
    assert {file["name"] for file in task["runs"][0]["files"]} == {
        "output.md",
        "stdout",
        "stderr",
        "prompt",
    }


# Last, in this order, so the seeded rows live until the last operations that can find them.
DESTROYING = (
    "DELETE /api/projects/{project_id}/tasks/{task_id}/runs/{run_id}",
    "DELETE /api/projects/{project_id}/tasks/{task_id}",
    "POST /api/projects/{project_id}/gc",
    "DELETE /api/projects/{project_id}",
)


def fuzz_order(operation: Any) -> int:
    label = operation.label
    return DESTROYING.index(label) if label in DESTROYING else -1


def with_known_ids(case: schemathesis.Case, known: dict[str, str]) -> None:
    """The generated ids and cursors, in the path, the query and a JSON body's top level
    (`project_root` too: the seeded repository), replaced by seeded ones, but for the id of
    what is created; a new project is on the seeded repository (no `repo_url`, nor the fields
    that must name what is in it, so that it is created), a task is a
    new one for the shell agent, so that it runs."""
    new_id = NEW_ID.get(case.operation.label)
    for parameters in (case.path_parameters, case.query, case.body):
        if isinstance(parameters, dict):
            for name in list(parameters):
                if name in known and name != new_id:
                    parameters[name] = known[name]
    if case.operation.label == "POST /api/projects" and isinstance(case.body, dict):
        case.body.pop("repo_url", None)  # the seeded repository as its root, not a clone
        case.body["project_root"] = known["project_root"]
        for name in ("default_branch", "copy_files", "env"):  # what must name real things
            case.body.pop(name, None)  # (a branch of it, files in it): fuzzed on the other half
    if case.operation.label == "POST /api/v1/tasks" and isinstance(case.body, dict):
        case.body.update(agent_type="shell", attach_mode="create")
        case.body.pop("thread_parent", None)


STARTING = (
    "POST /api/v1/tasks",
    "POST /api/v1/attempts",
    "POST /api/v1/attempts/{attempt_id}/children",
    "POST /api/v1/attempts/{attempt_id}/follow-up",
    "POST /api/v1/attempts/{attempt_id}/retry",
    # a queued draft saved on an idle attempt is sent at once as its follow-up
    "PUT /api/v1/attempts/{attempt_id}/draft",
    "PUT /api/v1/drafts/{attempt_id}",
)


def with_safe_prompt(case: schemathesis.Case) -> None:
    """A fuzzed task or attempt runs `FUZZ_PROMPT`, never a generated script."""
    body = case.body
    starting = case.operation.label in STARTING
    if starting and isinstance(body, dict) and "prompt" in body:
        body["prompt"] = FUZZ_PROMPT


def test_the_live_api_never_fails_and_answers_as_documented(live: Live) -> None:
    """Every operation but the streams in turn, 20 generated requests each, about half of them
    on the seeded ids; every failure is reported. The creating operations created."""
    results = list(live.schema.exclude(tag="streams").get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results) > 30
    failures: dict[str, str] = {}
    created: Counter[str] = Counter()

    for operation in sorted(operations, key=fuzz_order):

        @given(case=operation.as_strategy(), on_known_ids=st.booleans())
        @settings(
            max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def conforms(case: schemathesis.Case, on_known_ids: bool) -> None:
            if on_known_ids:
                with_known_ids(case, live.known)
            with_safe_prompt(case)
            response = case.call(base_url=live.url, timeout=30)
            created[case.operation.label] += response.status_code == 201
            case.validate_response(response, checks=CHECKS)

        try:
            conforms()
        except (AssertionError, FailureGroup) as exc:
            failures[operation.label] = str(exc)[:2000]

    assert failures == {}
    assert [label for label in CREATING if created[label] == 0] == []
