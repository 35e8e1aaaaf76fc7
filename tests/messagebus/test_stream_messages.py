"""The message bus streams: `/api/v1/messages/stream`, `/api/projects/<p>/messages/stream` and
`/api/projects/<p>/tasks/<t>/messages/stream`: replay after the cursor, then live."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.messagebus.test_stream_support import Conductor, Event, EventStream, conductor


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Conductor]:
    with conductor(tmp_path_factory.mktemp("messages")) as running:
        yield running


@pytest.fixture
def project(app: Conductor) -> tuple[str, str]:
    """A fresh project with a task (`true` as its agent), as (project_id, task_id)."""
    project_id = f"p-{uuid.uuid4().hex[:8]}"
    body = {"project_id": project_id, "task_id": "t1", "agent_type": "shell", "prompt": "true"}
    assert app.request("POST", "/api/v1/tasks", body)[0] == 201
    return project_id, "t1"


def _post(app: Conductor, project_id: str, body: str, task_id: str | None = None) -> str:
    message = {"project_id": project_id, "type": "FACT", "body": body}
    if task_id:
        message["task_id"] = task_id
    status, created = app.request("POST", "/api/v1/messages", message)
    assert status == 201, created
    return str(created["msg_id"])


def _facts(events: list[Event]) -> list[Event]:
    """What the tests posted (the system posts its own task_start, ... on task buses)."""
    return [e for e in events if e.json()["type"] == "FACT"]


def _bodies(events: list[Event]) -> list[str]:
    return [e.json()["body"] for e in _facts(events)]


def _until_body(body: str) -> Callable[[Event], bool]:
    return lambda e: e.json()["body"] == body


def test_it_replays_every_message_then_follows_live(app: Conductor, project: tuple) -> None:
    project_id, task_id = project
    ids = [_post(app, project_id, "one"), _post(app, project_id, "two", task_id)]

    with EventStream(app, f"/api/v1/messages/stream?project_id={project_id}") as stream:
        assert stream.status == 200
        assert stream.response.getheader("Content-Type") == "text/event-stream"
        assert stream.response.getheader("Cache-Control") == "no-cache"
        replayed = stream.until(_until_body("two"))
        ids.append(_post(app, project_id, "three"))
        live = stream.until(_until_body("three"))

    events = replayed + live
    assert _bodies(events) == ["one", "two", "three"]
    assert [e.id for e in _facts(events)] == ids
    assert all(e.event == "message" and e.id == e.json()["msg_id"] for e in events)
    listed = app.request("GET", f"/api/v1/messages?project_id={project_id}")[1]["messages"]
    assert [e.json() for e in events] == listed[: len(events)]


def test_the_last_event_id_resumes_after_that_message(app: Conductor, project: tuple) -> None:
    project_id, _ = project
    ids = [_post(app, project_id, body) for body in ("a", "b", "c")]
    path = f"/api/projects/{project_id}/messages/stream"
    with EventStream(app, path, last_event_id=ids[0]) as stream:
        assert _bodies(stream.until(_until_body("c"))) == ["b", "c"]
    with EventStream(app, f"{path}?after={ids[1]}") as stream:
        events = stream.until(_until_body("c"))
    assert [e.id for e in _facts(events)] == ids[2:]


def test_a_task_stream_has_its_own_bus_and_the_project_stream_has_all(
    app: Conductor, project: tuple
) -> None:
    project_id, task_id = project
    task_path = f"/api/projects/{project_id}/tasks/{task_id}/messages/stream"
    with (
        EventStream(app, task_path) as task_stream,
        EventStream(app, f"/api/projects/{project_id}/messages/stream") as project_stream,
        EventStream(
            app, f"/api/v1/messages/stream?project_id={project_id}&task_id={task_id}"
        ) as v1_task_stream,
    ):
        _post(app, project_id, "to the project")
        _post(app, project_id, "to the task", task_id)
        done = _until_body("to the task")
        assert _bodies(task_stream.until(done)) == ["to the task"]
        assert _bodies(v1_task_stream.until(done)) == ["to the task"]
        assert _bodies(project_stream.until(done)) == [
            "to the project",
            "to the task",
        ]


def test_a_quiet_bus_gets_keepalives(app: Conductor, project: tuple) -> None:
    project_id, _ = project
    with EventStream(app, f"/api/projects/{project_id}/messages/stream") as stream:
        assert stream.until_comment("keepalive", timeout=20)[0] == ": connected"


def test_bad_requests_are_refused(app: Conductor, project: tuple) -> None:
    project_id, task_id = project
    cases = [
        ("/api/v1/messages/stream", None, 400),
        ("/api/v1/messages/stream?project_id=bad.id", None, 400),
        ("/api/v1/messages/stream?project_id=nope-nope", None, 404),
        (f"/api/projects/{project_id}/tasks/nope/messages/stream", None, 404),
        (f"/api/projects/{project_id}/messages/stream", "MSG-unknown", 404),
        (f"/api/v1/messages/stream?project_id={project_id}&after=MSG-unknown", None, 404),
        (f"/api/projects/{project_id}/tasks/{task_id}/messages/stream", "bad id", 400),
    ]
    for path, last_id, status in cases:
        with EventStream(app, path, last_event_id=last_id) as stream:
            assert stream.status == status, path
            body = stream.error()
            assert body["code"] == ("BAD_REQUEST" if status == 400 else "NOT_FOUND")
    with EventStream(app, f"/api/projects/{project_id}/messages/stream", "MSG-unknown") as stream:
        assert "message id not found" in stream.error()["error"]


def test_a_deleted_bus_ends_its_stream_with_done(app: Conductor, project: tuple) -> None:
    """Its terminal state: the CLI's `bus read --follow` stops on `done` instead of
    reconnecting to a 404; the UI ignores the named event."""
    project_id, task_id = project
    run_id = app.request("GET", f"/api/v1/tasks/{task_id}?project_id={project_id}")[1]["runs"]
    app.finished_run(run_id[0]["run_id"])
    _post(app, project_id, "last words", task_id)

    path = f"/api/projects/{project_id}/tasks/{task_id}/messages/stream"
    with EventStream(app, path) as stream:
        stream.until(_until_body("last words"))
        assert app.request("DELETE", f"/api/projects/{project_id}/tasks/{task_id}")[0] == 204
        rest = stream.rest()

    # the run's own `task_complete` may still arrive before it: the stream's last word is `done`
    assert [(e.event, e.data) for e in rest][-1:] == [("done", "{}")]
    assert {e.event for e in rest[:-1]} <= {"message"}
