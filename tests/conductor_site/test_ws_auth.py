"""Who may open a WebSocket once an API key is configured: the key in a header, the
dashboard's signed-in session, or a fresh ticket from `POST /api/v1/ws-tickets` (once, for a
minute); nobody else, and no browser page of another origin even with a session."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from conductor_site.live import tickets
from projects.models import Project
from runs.models import Run
from tests.helpers import ws_refused, ws_session
from tests.projects.builders import assert_rfc3339_utc, make_run, make_task

HOST = (b"host", b"127.0.0.1:14355")


@pytest.fixture
def keyed(settings: Settings, ws_layer: None) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "sekret"}


@pytest.fixture
def finished(project: Project, keyed: None) -> Run:
    return make_run(make_task(project, "t1"), stdout="one\n")


def path_of(run: Run, query: str = "") -> str:
    return f"/ws/runs/{run.id}/logs/{query}"


def ticket(api: APIClient) -> str:
    response = api.post("/api/v1/ws-tickets", HTTP_AUTHORIZATION="Bearer sekret")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"ticket", "expires_at"}
    assert_rfc3339_utc(body["expires_at"])
    return str(body["ticket"])


def session_cookie(username: str = "dev") -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(User.objects.create_user(username, password="pw-long-enough"))
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def test_nothing_else_is_let_in(finished: Run) -> None:
    assert ws_refused(path_of(finished)) == 4401
    assert ws_refused(path_of(finished), [(b"authorization", b"Bearer wrong")]) == 4401
    assert ws_refused(path_of(finished, "?ticket=forged")) == 4401
    assert ws_refused(path_of(finished), [(b"cookie", b"sessionid=made-up")]) == 4401
    assert ws_refused(path_of(finished, "?api_key=sekret")) == 4401  # never in a URL


def test_a_ticket_opens_one_connection(finished: Run, api: APIClient) -> None:
    granted = ticket(api)

    frames, code = ws_session(path_of(finished, f"?ticket={granted}"))
    assert frames[-1] == {"type": "done"} and code == 1000
    assert ws_refused(path_of(finished, f"?ticket={granted}")) == 4401


def test_tickets_need_the_key_and_die(
    finished: Run, api: APIClient, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    assert api.post("/api/v1/ws-tickets").status_code == 401
    expired, voided = ticket(api), ticket(api)
    monkeypatch.setattr(tickets, "TICKET_SECONDS", -1)  # every ticket is past its age now
    assert ws_refused(path_of(finished, f"?ticket={expired}")) == 4401
    monkeypatch.undo()
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "rotated"}
    assert ws_refused(path_of(finished, f"?ticket={voided}")) == 4401


def test_a_signed_in_session_is_let_in_from_the_servers_own_origin(finished: Run) -> None:
    own, cookie = (b"origin", b"http://127.0.0.1:14355"), session_cookie()
    frames, code = ws_session(path_of(finished), [cookie, HOST, own])
    assert frames[-1] == {"type": "done"} and code == 1000
    assert ws_refused(path_of(finished), [cookie, HOST]) == 4401  # no Origin: not a page


def test_a_foreign_origin_is_refused_whatever_it_holds(finished: Run, api: APIClient) -> None:
    evil = (b"origin", b"https://evil.example")
    assert ws_refused(path_of(finished), [session_cookie(), HOST, evil]) == 4403
    assert ws_refused(path_of(finished, f"?ticket={ticket(api)}"), [HOST, evil]) == 4403
    own = (b"origin", b"http://127.0.0.1:14355")
    assert ws_session(path_of(finished), [session_cookie("other"), HOST, own])[1] == 1000
