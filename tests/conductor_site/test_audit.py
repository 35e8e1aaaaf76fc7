"""The form-submission audit log and the request id."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from conductor_site.audit import REDACTED, TRUNCATED, audit_append, sanitize
from projects.models import Project
from tasks.models import Task

FIELDS = {
    "timestamp",
    "request_id",
    "correlation_id",
    "method",
    "path",
    "endpoint",
    "remote_addr",
    "project_id",
    "task_id",
    "run_id",
    "message_id",
    "payload",
}


@pytest.fixture
def audit_log(data_dir: Path) -> Path:
    return data_dir / "_audit" / "form-submissions.jsonl"


def audit_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def task(project: Project) -> Task:
    return Task.objects.create(project=project, task_id="t1", prompt="true", agent_type="shell")


def test_a_task_creation_writes_one_line_with_every_field(
    api: APIClient, audit_log: Path, project: Project
) -> None:
    body = {"project_id": "demo", "task_id": "new", "agent_type": "shell", "prompt": "true"}

    response = api.post("/api/v1/tasks", body, format="json", HTTP_X_REQUEST_ID="req-abc")

    assert response.status_code == 201, response.content
    [line] = audit_lines(audit_log)
    assert set(line) == FIELDS
    assert line["request_id"] == line["correlation_id"] == "req-abc"
    assert (line["method"], line["path"]) == ("POST", "/api/v1/tasks")
    assert line["endpoint"] == "POST /api/v1/tasks"
    assert line["remote_addr"] == "127.0.0.1"
    assert (line["project_id"], line["task_id"]) == ("demo", "new")
    assert line["run_id"] == response.json()["run_id"]
    assert line["message_id"] is None
    assert line["payload"] == body
    assert line["timestamp"].endswith("Z")
    assert datetime.fromisoformat(line["timestamp"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_a_project_creation_is_audited(
    api: APIClient, audit_log: Path, db: None, git_repo: Path
) -> None:
    response = api.post(
        "/api/projects", {"project_id": "p1", "project_root": str(git_repo)}, format="json"
    )

    assert response.status_code == 201, response.content
    [line] = audit_lines(audit_log)
    assert set(line) == FIELDS
    assert (line["endpoint"], line["project_id"], line["task_id"]) == (
        "POST /api/projects",
        "p1",
        None,
    )
    assert (line["run_id"], line["message_id"]) == (None, None)
    assert line["payload"] == {"project_id": "p1", "project_root": str(git_repo)}


@pytest.mark.parametrize(
    ("path", "body", "endpoint", "task_id"),
    [
        (
            "/api/projects/demo/messages",
            {"type": "FACT", "body": "hello"},
            "POST /api/projects/{project_id}/messages",
            None,
        ),
        (
            "/api/projects/demo/tasks/t1/messages",
            {"type": "FACT", "body": "hello"},
            "POST /api/projects/{project_id}/tasks/{task_id}/messages",
            "t1",
        ),
        (
            "/api/v1/messages",
            {"project_id": "demo", "task_id": "t1", "body": "hello"},
            "POST /api/v1/messages",
            "t1",
        ),
    ],
)
def test_each_message_route_is_audited_with_the_message_id(
    api: APIClient,
    audit_log: Path,
    task: Task,
    path: str,
    body: dict[str, Any],
    endpoint: str,
    task_id: str | None,
) -> None:
    response = api.post(path, body, format="json")

    assert response.status_code == 201, response.content
    [line] = audit_lines(audit_log)
    assert set(line) == FIELDS
    assert (line["path"], line["endpoint"]) == (path, endpoint)
    assert (line["project_id"], line["task_id"]) == ("demo", task_id)
    assert line["message_id"] == response.json()["msg_id"]
    assert line["run_id"] is None
    assert line["payload"] == body


def test_a_body_over_the_upload_limit_is_a_413_and_not_audited(
    api: APIClient, audit_log: Path, task: Task, settings: Settings
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"project_id": "demo", "body": "y" * 5000}

    response = api.post("/api/v1/messages", body, format="json")

    assert response.status_code == 413, response.content
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert audit_lines(audit_log) == []


def test_rejected_and_unlisted_requests_are_not_audited(
    api: APIClient, audit_log: Path, settings: Settings, task: Task
) -> None:
    assert api.post("/api/v1/messages", {"project_id": "demo"}, format="json").status_code == 400
    assert (
        api.post("/api/v1/messages", b"{oops", content_type="application/json").status_code == 400
    )
    assert api.get("/api/v1/messages?project_id=demo").status_code == 200
    assert api.post("/api/projects/demo/tasks/t1/resume").status_code != 201
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "k"}
    body = {"project_id": "demo", "body": "hi"}
    assert api.post("/api/v1/messages", body, format="json").status_code == 401

    assert audit_lines(audit_log) == []


def test_secrets_in_a_submission_are_redacted_in_the_log_only(
    api: APIClient, audit_log: Path, task: Task
) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9"
    body = {
        "project_id": "demo",
        "body": f"use Authorization: Bearer abc.def-123 and {jwt}",
        "meta": {"GITHUB_TOKEN": "ghp_0123456789abcdefghijABCDEFGHIJ", "note": "fine"},
    }

    response = api.post("/api/v1/messages", body, format="json")

    assert response.status_code == 201, response.content
    [line] = audit_lines(audit_log)
    assert line["payload"]["meta"] == {"GITHUB_TOKEN": REDACTED, "note": "fine"}
    assert line["payload"]["body"] == f"use Authorization: Bearer {REDACTED} and {REDACTED}"
    assert "abc.def-123" not in audit_log.read_text()
    assert jwt in api.get("/api/v1/messages?project_id=demo").content.decode()


@pytest.mark.parametrize(
    "key",
    [
        "token",
        "access_token",
        "Secret",
        "password",
        "db_passwd",
        "api_key",
        "API-KEY",
        "apikey",
        "Authorization",
        "auth",
        "oauth_code",
        "credentials",
        "private_key",
        "aws_access_key_id",
        "Cookie",
    ],
)
def test_a_sensitive_key_loses_its_value_at_any_depth(db: None, key: str) -> None:
    payload = {key: "value", "nested": [{key: {"deep": 1}}], "prompt": "keep me"}

    assert sanitize(payload) == {
        key: REDACTED,
        "nested": [{key: REDACTED}],
        "prompt": "keep me",
    }


@pytest.mark.parametrize(
    "secret",
    [
        "Bearer abcdef0123456789",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLXZhbHVl",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "gho_abcdefghijklmnopqrstuvwxyz0123456789",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "sk-proj-abcdefghijklmnop0123456789",
        "sk-ant-api03-abcdefghijklmnop0123456789",
        "xoxb-123456789012-abcdefghijkl",
        "xoxp-123456789012-abcdefghijkl",
        "AKIAIOSFODNN7EXAMPLE",
    ],
)
def test_each_token_kind_is_masked_inside_free_text(db: None, secret: str) -> None:
    masked = sanitize({"prompt": f"deploy with {secret}, then report."})["prompt"]

    assert secret not in masked
    assert REDACTED in masked
    assert masked.startswith("deploy with ") and masked.endswith(", then report.")


def test_an_assignment_of_a_secret_keeps_the_name_and_masks_the_value(db: None) -> None:
    text = "export GITHUB_TOKEN=hunter2 and password: swordfish; user=alice"

    assert sanitize({"prompt": text})["prompt"] == (
        f"export GITHUB_TOKEN={REDACTED} and password: {REDACTED}; user=alice"
    )


def test_long_text_is_truncated_with_a_marker(db: None) -> None:
    masked = sanitize({"prompt": "x" * 10_000})["prompt"]

    assert masked.startswith("x" * 4096)
    assert TRUNCATED in masked
    assert "5904 more characters" in masked
    assert len(masked) < 4200


def test_huge_lists_and_objects_are_bounded(db: None) -> None:
    clean = sanitize({"depends_on": list(range(1000)), "env": {f"K{i}": "v" for i in range(500)}})

    assert len(clean["depends_on"]) == 101 and TRUNCATED in clean["depends_on"][-1]
    assert len(clean["env"]) == 101 and clean["env"][TRUNCATED] == "400 more keys"


# Request ids.


def test_a_valid_request_id_is_honoured_and_echoed(db: None, api: APIClient) -> None:
    response = api.get("/api/v1/health", HTTP_X_REQUEST_ID="trace-42/abc")

    assert response["X-Request-ID"] == "trace-42/abc"


@pytest.mark.parametrize("sent", [None, "", "x" * 129, "has space", "caf\u00e9", "tab\there"])
def test_a_missing_or_unusable_request_id_is_replaced_by_a_generated_one(
    db: None, api: APIClient, sent: str | None
) -> None:
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}

    first = api.get("/api/v1/health", **headers)["X-Request-ID"]  # type: ignore[arg-type]
    second = api.get("/api/v1/health", **headers)["X-Request-ID"]  # type: ignore[arg-type]

    assert first.startswith("req-") and second.startswith("req-")
    assert first != second


def test_every_response_carries_a_request_id(db: None, api: APIClient, settings: Settings) -> None:
    responses = [api.get("/api/v1/nope"), api.put("/api/v1/tasks"), api.get("/metrics")]
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "k"}
    responses.append(api.get("/api/v1/tasks"))

    assert [r.status_code for r in responses] == [404, 405, 200, 401]
    assert all(r["X-Request-ID"].startswith("req-") for r in responses)


def test_the_audit_line_and_the_response_share_the_generated_id(
    api: APIClient, audit_log: Path, task: Task
) -> None:
    response = api.post("/api/v1/messages", {"project_id": "demo", "body": "x"}, format="json")

    [line] = audit_lines(audit_log)
    assert line["request_id"] == response["X-Request-ID"]


# Failures and concurrency.


def test_a_failed_audit_write_only_logs_a_warning(
    api: APIClient, data_dir: Path, task: Task, caplog: pytest.LogCaptureFixture
) -> None:
    (data_dir / "_audit").write_text("a file where the audit folder should be")

    with caplog.at_level(logging.WARNING, logger="conductor.audit"):
        response = api.post("/api/v1/messages", {"project_id": "demo", "body": "x"}, format="json")

    assert response.status_code == 201, response.content
    assert any(r.levelno == logging.WARNING for r in caplog.records if r.name == "conductor.audit")


WRITER = """
import sys
from conductor_site.audit import audit_append
path, writer, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
for seq in range(count):
    audit_append({"writer": writer, "seq": seq, "pad": "p" * (seq * 37 % 9000)}, path=path)
"""


def test_concurrent_threads_and_processes_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "_audit" / "form-submissions.jsonl"
    processes = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"proc{n}", "500"])
        for n in range(3)
    ]

    def write(writer: str) -> None:
        for seq in range(200):
            audit_append({"writer": writer, "seq": seq, "pad": "t" * (seq * 53 % 9000)}, path=path)

    threads = [threading.Thread(target=write, args=(f"thread{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [p.wait(120) for p in processes] == [0, 0, 0]

    lines = path.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    seen = {(r["writer"], r["seq"]) for r in records}
    assert len(records) == len(seen) == 3 * 500 + 4 * 200
    assert seen == {(f"proc{n}", s) for n in range(3) for s in range(500)} | {
        (f"thread{n}", s) for n in range(4) for s in range(200)
    }
