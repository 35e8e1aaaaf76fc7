"""`/api/v1/images`: uploads checked by their bytes and size, files kept through
`projects.storage`, served back, deleted, and copied into the agent's working directory."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from projects import storage
from projects.models import Project
from runs.models import Attempt, Run
from tasks.models import Image, Task
from tasks.services import task_delete
from tests.conftest import attempt_finished, create_task, log_text, run_finished
from tests.helpers import assert_error, git_cli


def png(extra: bytes = b"") -> bytes:
    """A real 1x1 PNG; `extra` bytes are put in a private chunk (to make it larger)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    padding = chunk(b"prVt", extra) if extra else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + padding
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
WEBP_BODY = b"WEBPVP8L\x0a\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88"
WEBP = b"RIFF" + struct.pack("<I", len(WEBP_BODY)) + WEBP_BODY


@pytest.fixture
def task(project: Project) -> Task:
    return Task.objects.create(project=project, task_id="t1", prompt="p", agent_type="shell")


def upload(
    api: APIClient,
    data: bytes,
    *,
    name: str = "shot.png",
    content_type: str = "image/png",
    **fields: str,
) -> Any:
    body = {"project_id": "demo", "task_id": "t1", **fields}
    body["image"] = SimpleUploadedFile(name, data, content_type=content_type)  # type: ignore[assignment]
    return api.post("/api/v1/images", body, format="multipart")


def images_folder() -> Path:
    return storage.images_dir("demo")


def test_an_upload_is_stored_served_back_and_deleted(db: None, api: APIClient, task: Task) -> None:
    data = png()
    response = upload(api, data, name="../../etc/shot\x00.png")

    assert response.status_code == 201, response.content
    image = response.json()
    assert image["mime_type"] == "image/png"
    assert image["file_name"] == f"{image['id']}.png"
    assert image["worktree_path"] == f".conductor/images/{image['id']}.png"
    assert image["original_name"] == "shot.png"
    assert (image["project_id"], image["task_id"], image["size_bytes"]) == ("demo", "t1", len(data))
    assert (images_folder() / image["file_name"]).read_bytes() == data

    served = api.get(f"/api/v1/images/{image['id']}/file", HTTP_ACCEPT="image/*")
    assert served.status_code == 200
    assert served.content == data
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert api.get(f"/api/v1/images/{image['id']}").json() == image
    assert api.get("/api/v1/images?project_id=demo&task_id=t1").json()["items"] == [image]
    assert api.get("/api/v1/images?task_id=other").json()["items"] == []

    assert api.delete(f"/api/v1/images/{image['id']}").status_code == 204
    assert not (images_folder() / image["file_name"]).exists()
    assert_error(api.get(f"/api/v1/images/{image['id']}/file"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("data", "mime"),
    [(GIF, "image/gif"), (JPEG, "image/jpeg"), (WEBP, "image/webp"), (png(), "image/png")],
)
def test_the_type_is_what_the_bytes_say(
    db: None, api: APIClient, task: Task, data: bytes, mime: str
) -> None:
    response = upload(api, data, name="x.txt", content_type="text/html")

    assert response.status_code == 201, response.content
    assert response.json()["mime_type"] == mime
    served = api.get(f"/api/v1/images/{response.json()['id']}/file")
    assert served["Content-Type"] == mime


@pytest.mark.parametrize(
    "data",
    [
        b"<html><script>alert(1)</script></html>",
        GIF + b"<script>alert(1)</script>",  # a polyglot: an image with a page after it
        png() + b"<?php system($_GET[1]); ?>",
        png()[:-12],  # truncated
        b"RIFF\xff\xff\xff\xffWEBP",
        b"\x89PNG\r\n\x1a\n",
    ],
)
def test_what_is_not_a_whole_image_is_a_415_and_leaves_nothing(
    db: None, api: APIClient, task: Task, data: bytes
) -> None:
    assert_error(upload(api, data), 415, "UNSUPPORTED_MEDIA_TYPE")
    assert not Image.objects.exists()
    assert not images_folder().exists() or not list(images_folder().iterdir())


def test_an_image_over_the_cap_is_a_413_and_leaves_nothing(
    db: None, api: APIClient, task: Task, settings: Settings
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "IMAGE_MAX_BYTES": 2000}
    assert upload(api, png(b"x" * 1000)).status_code == 201

    body = assert_error(upload(api, png(b"x" * 3000)), 413, "PAYLOAD_TOO_LARGE")
    assert body["details"] == {"limit": 2000}
    huge = assert_error(upload(api, png(b"x" * 200_000)), 413, "PAYLOAD_TOO_LARGE")
    assert huge["details"] == {"limit": 2000}
    assert Image.objects.count() == 1
    assert len(list(images_folder().iterdir())) == 1


def test_a_symlinked_images_folder_is_refused_and_not_written_through(
    db: None, api: APIClient, task: Task, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    storage.folder_make(storage.project_dir("demo"))
    images_folder().symlink_to(outside)

    assert_error(upload(api, png()), 409, "CONFLICT")
    assert list(outside.iterdir()) == []
    assert not Image.objects.exists()


def test_a_file_swapped_for_a_symlink_is_not_served(
    db: None, api: APIClient, task: Task, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("do not serve me")
    image = upload(api, png()).json()
    stored = images_folder() / image["file_name"]
    stored.unlink()
    stored.symlink_to(secret)

    assert_error(api.get(f"/api/v1/images/{image['id']}/file"), 404, "NOT_FOUND")
    assert api.delete(f"/api/v1/images/{image['id']}").status_code == 204
    assert secret.read_text() == "do not serve me"


def test_deleting_the_task_removes_its_images(db: None, api: APIClient, task: Task) -> None:
    image = upload(api, png()).json()
    other = Task.objects.create(project=task.project, task_id="t2", prompt="p", agent_type="x")
    kept = upload(api, GIF, task_id="t2").json()

    task_delete(task)

    assert not (images_folder() / image["file_name"]).exists()
    assert (images_folder() / kept["file_name"]).exists()
    assert list(Image.objects.values_list("task", flat=True)) == [other.pk]


@pytest.mark.parametrize("image_id", ["..", "a.b", "%2e%2e", "x%00"])
def test_a_path_ish_id_is_a_400(db: None, api: APIClient, image_id: str) -> None:
    assert_error(api.get(f"/api/v1/images/{image_id}/file"), 400, "BAD_REQUEST")
    assert_error(api.delete(f"/api/v1/images/{image_id}"), 400, "BAD_REQUEST")


def test_bad_uploads_answer_in_the_error_shape(db: None, api: APIClient, task: Task) -> None:
    assert_error(upload(api, png(), task_id="../t1"), 400, "BAD_REQUEST")
    assert_error(upload(api, png(), task_id="nope"), 404, "NOT_FOUND")
    assert_error(upload(api, b""), 400, "BAD_REQUEST")
    no_file = api.post("/api/v1/images", {"project_id": "demo", "task_id": "t1"})
    assert_error(no_file, 400, "BAD_REQUEST")
    as_json = api.post("/api/v1/images", {"project_id": "demo"}, format="json")
    assert_error(as_json, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert_error(api.get("/api/v1/images?task_id=.."), 400, "BAD_REQUEST")
    assert not Image.objects.exists()


def first_run(api: APIClient) -> Attempt:
    started = create_task(api, prompt="true")
    attempt_finished(run_finished(started["run_id"]).attempt_id)
    return Attempt.objects.get(runs__id=started["run_id"])


def resume(api: APIClient, prompt: str) -> Run:
    body = {"project_id": "demo", "task_id": "t1", "agent_type": "shell", "prompt": prompt}
    response = api.post("/api/v1/tasks", {**body, "attach_mode": "resume"}, format="json")
    assert response.status_code == 201, response.content
    run = run_finished(response.json()["run_id"])
    attempt_finished(run.attempt_id)
    return run


def test_the_agent_finds_the_images_its_prompt_names_and_they_are_not_committed(
    work: str, api: APIClient, project: Project
) -> None:
    attempt = first_run(api)
    data = png()
    image = upload(api, data).json()

    run = resume(api, "cat .conductor/images/*.png | wc -c; echo more > new.txt; exit 0")

    assert run.status == "success", run.error_summary
    assert f"- {image['worktree_path']}" in run.prompt
    assert str(len(data)) in log_text(run.id)
    worktree = Path(attempt.worktree_path)
    assert (worktree / image["worktree_path"]).read_bytes() == data
    committed = git_cli(worktree, "show", "--name-only", "--format=", "HEAD").split()
    assert committed == ["new.txt"]
    assert git_cli(worktree, "status", "--porcelain") == ""
    assert "Images attached" not in Task.objects.get(task_id="t1").prompt


def test_a_symlink_the_agent_planted_is_not_copied_through(
    work: str, api: APIClient, project: Project, tmp_path: Path
) -> None:
    attempt = first_run(api)
    upload(api, png())
    outside = tmp_path / "outside"
    outside.mkdir()
    (Path(attempt.worktree_path) / ".conductor").symlink_to(outside)

    run = resume(api, "exit 0")

    assert run.status == "success", run.error_summary
    assert list(outside.iterdir()) == []
