"""POST /api/projects with a `repo_url`: a clone in the data dir, row and clone together or
neither, and credentials that never show anywhere."""

from __future__ import annotations

import functools
import http.server
import logging
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from projects.models import Project
from tests.helpers import assert_error, git_cli

TOKEN = "s3cr3t-t0ken-value"


def post(api: APIClient, **body: Any) -> Any:
    return api.post("/api/projects", {"project_id": "cloned", **body}, format="json")


@pytest.fixture
def bare(git_repo: Path, tmp_path: Path) -> Path:
    """A bare remote of `git_repo` (main, and a `feature` branch), servable over dumb HTTP."""
    git_cli(git_repo, "branch", "feature")
    remote = tmp_path / "remote.git"
    git_cli(tmp_path, "clone", "-q", "--bare", str(git_repo), str(remote))
    git_cli(remote, "update-server-info")
    return remote


def nothing_left(project_id: str = "cloned") -> None:
    data = Path(settings.DATA_DIR)
    assert not Project.objects.filter(id=project_id).exists()
    assert not (data / "projects" / project_id).exists()
    assert not (data / "repositories" / project_id).exists()


def test_a_file_url_is_cloned_into_the_data_dir(db: None, api: APIClient, bare: Path) -> None:
    response = post(api, repo_url=f"file://{bare}")

    assert response.status_code == 201, response.content
    clone = Path(settings.DATA_DIR).resolve() / "repositories" / "cloned"
    assert response.json()["project_root"] == str(clone)
    assert git_cli(clone, "rev-parse", "HEAD") == git_cli(bare, "rev-parse", "main")
    assert git_cli(clone, "remote", "get-url", "origin").strip() == f"file://{bare}"
    detail = api.get("/api/v1/projects/cloned").json()
    assert (detail["repo_url"], detail["has_repository"]) == (f"file://{bare}", True)
    names = [b["name"] for b in api.get("/api/v1/projects/cloned/branches").json()["items"]]
    assert names == ["main", "origin/feature", "origin/main"]


def test_the_cloned_project_can_be_deleted_and_its_clone_stays(
    db: None, api: APIClient, bare: Path
) -> None:
    assert post(api, repo_url=f"file://{bare}").status_code == 201

    assert api.delete("/api/projects/cloned").status_code == 200

    clone = Path(settings.DATA_DIR) / "repositories" / "cloned"
    assert (clone / ".git").is_dir()
    again = assert_error(post(api, repo_url=f"file://{bare}"), 409, "CONFLICT")
    assert "already exists" in again["error"]


def test_a_failed_clone_is_400_with_gits_message_and_leaves_nothing(
    db: None, api: APIClient, tmp_path: Path
) -> None:
    error = assert_error(post(api, repo_url=f"file://{tmp_path}/missing.git"), 400, "BAD_REQUEST")

    assert "does not appear to be a git repository" in error["error"]
    assert "repo_url" in error["details"]["fields"]
    nothing_left()


def test_repo_url_and_project_root_together_are_400(
    db: None, api: APIClient, bare: Path, git_repo: Path
) -> None:
    response = post(api, repo_url=f"file://{bare}", project_root=str(git_repo))

    assert_error(response, 400, "BAD_REQUEST")
    nothing_left()


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/r.git",
        "git://example.com/r.git",
        "ext::sh -c touch% /tmp/h13-pwned",
        "ext::sh",
        "-uhttps://example.com/r.git",
        "--upload-pack=touch /tmp/h13-pwned",
        "ssh://-oProxyCommand=touch%20x/r",
        "ssh://-x@host/r",
        "https://",
        "https:///path",
        "file://host/path",
        "file:relative",
        "FILE:///tmp",
        "/tmp/some/repo",
        "https://example.com/r.git\n",
        "https://example.com/ r.git",
        "https://example.com:99999/r.git",
        "x" * 2049,
    ],
)
def test_urls_git_should_not_take_are_refused_before_any_clone(
    db: None, api: APIClient, url: str
) -> None:
    error = assert_error(post(api, repo_url=url), 400, "BAD_REQUEST")

    assert "repo_url" in error["details"]["fields"]
    nothing_left()
    assert not Path("/tmp/h13-pwned").exists()


def test_an_ssh_url_that_cannot_connect_is_400_without_a_prompt(db: None, api: APIClient) -> None:
    response = post(api, repo_url=f"ssh://git:{TOKEN}@127.0.0.1:1/r.git")

    error = assert_error(response, 400, "BAD_REQUEST")
    assert TOKEN not in response.content.decode()
    assert "clone failed" in error["error"]
    nothing_left()


# Credentials: served over https (a throwaway certificate) as git's dumb HTTP protocol.


@pytest.fixture
def https_remote(bare: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    handler = functools.partial(Quiet, directory=str(bare.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("GIT_SSL_NO_VERIFY", "1")
    yield f"https://127.0.0.1:{server.server_address[1]}/{bare.name}"
    server.shutdown()
    server.server_close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def leaks(response: Any, caplog: pytest.LogCaptureFixture) -> list[str]:
    """Where TOKEN shows: the response, the logs, any file of the data dir (the clone's git
    config and reflogs, the audit log), any field of a project row."""
    found = [] if TOKEN not in response.content.decode() else ["response"]
    found += ["log"] if TOKEN in caplog.text else []
    for path in Path(settings.DATA_DIR).rglob("*"):
        if path.is_file() and TOKEN.encode() in path.read_bytes():
            found.append(str(path))
    rows = Project.objects.values_list()
    return found + [str(row) for row in rows if TOKEN in str(row)]


def test_credentials_serve_the_clone_and_show_nowhere(
    db: None, api: APIClient, https_remote: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = https_remote.replace("https://", f"https://user:{TOKEN}@")

    response = post(api, repo_url=url)

    assert response.status_code == 201, response.content
    clone = Path(response.json()["project_root"])
    assert git_cli(clone, "remote", "get-url", "origin").strip() == https_remote
    assert Project.objects.get(id="cloned").repo_url == url.replace(f"user:{TOKEN}", "***")
    assert TOKEN not in api.get("/api/v1/projects/cloned").content.decode()
    assert (Path(settings.DATA_DIR) / "_audit").exists()
    assert leaks(response, caplog) == []


def test_a_failed_clone_with_credentials_shows_them_nowhere(
    db: None, api: APIClient, https_remote: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = https_remote.replace("https://", f"https://{TOKEN}@") + "-missing"

    response = post(api, repo_url=url)

    error = assert_error(response, 400, "BAD_REQUEST")
    assert "not found" in error["error"]
    assert leaks(response, caplog) == []
    nothing_left()
