"""`GET /api/v1/events`: the event log's history, its filters, pages and counts, its errors,
and the pruning whose cursor is refused (Zulip's rule), never answered with a partial list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from conductor_site.live import history as event_log
from conductor_site.live.history import events_prune, record
from conductor_site.live.models import Event
from tests.helpers import assert_error, recorded_task_change


def run_changed(project_id: str, task_id: str, run_id: str) -> int:
    event: Any = {
        "type": "run.changed",
        "change": "started",
        "run_id": run_id,
        "attempt_id": "a1",
        "project_id": project_id,
        "task_id": task_id,
        "kind": "agent",
        "status": "running",
        "exit_code": None,
    }
    return record(event, []).id


@pytest.fixture
def history(db: None) -> list[int]:
    return [
        recorded_task_change("p1", "t1"),
        run_changed("p1", "t1", "r1"),
        recorded_task_change("p1", "t1", "moved"),
        recorded_task_change("p2", "t9"),
    ]


def events(api: APIClient, query: str = "") -> dict[str, Any]:
    response = api.get(f"/api/v1/events{query}")
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_it_lists_the_history_oldest_first_with_counts(api: APIClient, history: list[int]) -> None:
    page = events(api)

    assert [item["id"] for item in page["items"]] == history
    assert page["total"] == 4
    assert page["counts"] == {"task.changed": 3, "run.changed": 1}
    assert page["has_more"] is False and page["next_after"] == history[-1]
    assert page["last_id"] == history[-1] == events(api, "?project=p1")["last_id"]
    first = page["items"][0]
    assert first["type"] == "task.changed" and first["project_id"] == "p1"
    assert first["task_id"] == "t1" and first["run_id"] is None
    assert first["payload"]["change"] == "created" and first["time"].endswith("Z")


def test_it_filters_by_project_task_and_type(api: APIClient, history: list[int]) -> None:
    assert [i["id"] for i in events(api, "?project=p2")["items"]] == [history[3]]
    assert [i["id"] for i in events(api, "?type=run.changed")["items"]] == [history[1]]
    page = events(api, "?project=p1&task=t1&type=task.changed")
    assert [i["id"] for i in page["items"]] == [history[0], history[2]]
    assert page["total"] == 2 and page["counts"] == {"task.changed": 2}


def test_it_pages_by_cursor(api: APIClient, history: list[int]) -> None:
    first = events(api, "?limit=3")
    assert [i["id"] for i in first["items"]] == history[:3] and first["has_more"] is True

    rest = events(api, f"?limit=3&after={first['next_after']}")
    assert [i["id"] for i in rest["items"]] == history[3:] and rest["has_more"] is False

    empty = events(api, f"?after={history[-1]}")
    assert empty["items"] == [] and empty["next_after"] == history[-1]


@pytest.mark.parametrize(
    "query",
    [
        "?type=log.chunk",
        "?type=",
        "?after=-1",
        "?after=x",
        "?limit=0",
        "?project=a%20b",
        "?task=..",
    ],
)
def test_bad_parameters_are_a_400(api: APIClient, db: None, query: str) -> None:
    assert_error(api.get(f"/api/v1/events{query}"), 400, "BAD_REQUEST")


def test_only_get_is_allowed(api: APIClient, db: None) -> None:
    assert_error(api.post("/api/v1/events", {}, format="json"), 405, "METHOD_NOT_ALLOWED")


def test_pruning_keeps_the_newest_and_refuses_an_older_cursor(
    api: APIClient, history: list[int], settings: Settings
) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "EVENTS_KEEP_MAX": 2}

    assert events_prune() == 2

    page = events(api)  # without a cursor: what is kept
    assert [i["id"] for i in page["items"]] == history[2:] and page["total"] == 2
    assert events(api, f"?after={history[1]}")["items"][0]["id"] == history[2]
    body = assert_error(api.get(f"/api/v1/events?after={history[0]}"), 410, "GONE")
    assert "start over" in body["error"]
    assert body["details"] == {"after": history[0], "pruned_through": history[1]}
    assert_error(api.get("/api/v1/events?after=0"), 410, "GONE")


def test_pruning_by_age(history: list[int], settings: Settings) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "EVENTS_KEEP_DAYS": 1}
    Event.objects.filter(id__in=history[:3]).update(at=timezone.now() - timedelta(days=2))

    assert events_prune() == 3
    assert events_prune() == 0  # nothing more is past the retention
    assert list(Event.objects.values_list("id", flat=True)) == history[3:]


def test_a_deleted_task_keeps_its_history(api: APIClient, db: None) -> None:
    from projects.models import Project
    from tasks.models import Task

    project = Project.objects.create(id="p1")
    task = Task.objects.create(project=project, task_id="t1", prompt="x", agent_type="shell")
    recorded_task_change("p1", "t1")
    task.delete()

    assert [i["task_id"] for i in events(api, "?project=p1")["items"]] == ["t1"]


def test_an_event_goes_live_once_committed_with_its_log_id(
    db: None, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    sent: list[list[tuple[str, dict[str, Any]]]] = []
    monkeypatch.setattr(event_log, "publish", lambda items: sent.append(list(items)))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        row = record(
            {
                "type": "task.changed",
                "change": "moved",
                "project_id": "p1",
                "task_id": "t1",
                "column": "done",
            },
            ["project.p1"],
        )
    assert sent == []
    for callback in callbacks:
        callback()

    assert [[group for group, _ in items] for items in sent] == [["project.p1", "events"]]
    assert sent[0][0][1]["event_id"] == row.id
    assert "event_id" not in Event.objects.get(id=row.id).payload
