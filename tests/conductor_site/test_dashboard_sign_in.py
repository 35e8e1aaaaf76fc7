"""The dashboard's sign-in: none on the default setup, Django users when a key turns auth on,
a first-run form for the first user from this machine only, CSRF on every form."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from pytest_django.fixtures import Settings

PAGES = ["/ui/", "/ui/now/", "/ui/agents/", "/ui/projects/new/"]


@pytest.fixture
def auth_on(settings: Settings) -> None:
    settings.CONDUCTOR = {**settings.CONDUCTOR, "API_KEY": "dashboard-key"}


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice", password="a long pass phrase")


@pytest.mark.parametrize("path", PAGES)
def test_without_a_key_no_page_asks_for_a_sign_in(db: None, client: Client, path: str) -> None:
    assert client.get(path).status_code == 200


def test_without_a_key_the_sign_in_page_leads_home(db: None, client: Client) -> None:
    response = client.get("/ui/sign-in/")

    assert response.status_code == 302
    assert response["Location"] == "/ui/"


@pytest.mark.parametrize("path", PAGES)
def test_with_a_key_every_page_needs_a_signed_in_user(
    auth_on: None, alice: User, client: Client, path: str
) -> None:
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/ui/sign-in/?next=")


def test_a_signed_in_user_sees_the_pages(auth_on: None, alice: User, client: Client) -> None:
    response = client.post(
        "/ui/sign-in/", {"username": "alice", "password": "a long pass phrase", "next": "/ui/now/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/ui/now/"
    page = client.get("/ui/now/")
    assert page.status_code == 200
    assert "Sign out" in page.content.decode()


def test_a_wrong_password_is_refused_on_the_form(
    auth_on: None, alice: User, client: Client
) -> None:
    response = client.post("/ui/sign-in/", {"username": "alice", "password": "guess"})

    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    assert client.get("/ui/").status_code == 302


def test_signing_out_ends_the_session(auth_on: None, alice: User, client: Client) -> None:
    client.force_login(alice)

    assert client.post("/ui/sign-out/").status_code == 302
    assert client.get("/ui/").status_code == 302


def test_the_first_run_form_makes_the_first_user_an_admin(
    db: None, auth_on: None, client: Client
) -> None:
    assert client.get("/ui/")["Location"] == "/ui/sign-in/?next=/ui/"
    assert client.get("/ui/sign-in/")["Location"] == "/ui/first-run/"
    form = {"username": "root", "password1": "first pass phrase", "password2": "first pass phrase"}

    response = client.post("/ui/first-run/", form)

    assert response.status_code == 302
    user = User.objects.get()
    assert user.username == "root" and user.is_superuser and user.is_staff
    assert client.get("/ui/").status_code == 200  # signed in by the form


def test_the_first_run_form_is_not_offered_from_another_machine(
    db: None, auth_on: None, client: Client
) -> None:
    form = {"username": "mallory", "password1": "pass phrase 1", "password2": "pass phrase 1"}

    response = client.post("/ui/first-run/", form, REMOTE_ADDR="192.0.2.7")

    assert response.status_code == 302
    assert response["Location"] == "/ui/sign-in/"
    assert not User.objects.exists()
    sign_in = client.get("/ui/sign-in/", REMOTE_ADDR="192.0.2.7")
    assert "conductor createsuperuser" in sign_in.content.decode()


def test_the_first_run_form_is_closed_once_a_user_exists(
    auth_on: None, alice: User, client: Client
) -> None:
    form = {"username": "second", "password1": "pass phrase 2", "password2": "pass phrase 2"}

    response = client.post("/ui/first-run/", form)

    assert response["Location"] == "/ui/sign-in/"
    assert list(User.objects.values_list("username", flat=True)) == ["alice"]


def test_the_first_run_form_is_closed_without_a_key(db: None, client: Client) -> None:
    form = {"username": "root", "password1": "pass phrase 3", "password2": "pass phrase 3"}

    client.post("/ui/first-run/", form)

    assert not User.objects.exists()


@pytest.mark.parametrize(
    "path",
    ["/ui/projects/new/", "/ui/runs/run-x/stop/", "/ui/agents/new/", "/ui/sign-in/"],
)
def test_forms_refuse_a_post_without_the_csrf_token(db: None, path: str) -> None:
    client = Client(enforce_csrf_checks=True)

    response = client.post(path, {"project_id": "p"})

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]


def test_a_form_with_its_csrf_token_is_accepted(db: None) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/ui/projects/new/")
    token = client.cookies["csrftoken"].value

    response = client.post("/ui/projects/new/", {"csrfmiddlewaretoken": token})

    assert response.status_code == 200  # the form again, with its errors
    assert "This field is required." in response.content.decode()
