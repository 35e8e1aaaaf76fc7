"""`/api/v1/tags` and `@tag` expansion in submitted prompts."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from projects import storage
from projects.models import Project
from runs.models import Run
from tasks.models import Tag
from tasks.tags import prompt_expand
from tests.conftest import create_task, log_text, run_finished
from tests.helpers import assert_error


def post_tag(api: APIClient, name: str, content: str = "text") -> Any:
    return api.post("/api/v1/tags", {"name": name, "content": content}, format="json")


def test_it_creates_reads_updates_and_deletes_a_tag(db: None, api: APIClient) -> None:
    created = post_tag(api, "review", "Review this.")
    assert created.status_code == 201, created.content
    assert set(created.json()) == {"name", "content", "created_at", "updated_at"}
    assert api.get("/api/v1/tags/review").json()["content"] == "Review this."

    put = api.put("/api/v1/tags/review", {"name": "review2", "content": "Again."}, format="json")
    assert put.status_code == 200, put.content
    patched = api.patch("/api/v1/tags/review2", {"content": "Once more."}, format="json")
    assert patched.json()["content"] == "Once more."
    assert api.delete("/api/v1/tags/review2").status_code == 204

    assert not Tag.objects.exists()
    assert_error(api.get("/api/v1/tags/review2"), 404, "NOT_FOUND")


def test_the_list_is_paged_and_searched_by_name(db: None, api: APIClient) -> None:
    for name in ("alpha", "beta", "alphabet", "gamma"):
        post_tag(api, name)

    page = api.get("/api/v1/tags?search=ALPHA&limit=1").json()
    assert [tag["name"] for tag in page["items"]] == ["alpha"]
    assert (page["total"], page["limit"], page["offset"], page["has_more"]) == (2, 1, 0, True)
    rest = api.get("/api/v1/tags?search=alpha&limit=1&offset=1").json()
    assert [tag["name"] for tag in rest["items"]] == ["alphabet"]
    assert api.get("/api/v1/tags").json()["total"] == 4
    assert_error(api.get("/api/v1/tags", {"limit": "x"}), 400, "BAD_REQUEST")


def test_a_taken_name_is_a_409(db: None, api: APIClient) -> None:
    post_tag(api, "one")
    post_tag(api, "two")

    assert_error(post_tag(api, "one"), 409, "CONFLICT")
    renamed = api.patch("/api/v1/tags/two", {"name": "one"}, format="json")
    assert_error(renamed, 409, "CONFLICT")
    assert Tag.objects.get(name="two")


@pytest.mark.parametrize("name", ["../x", "a b", "a.b", "", "x" * 65, "a/b", "@a", "ä"])
def test_a_name_outside_the_rule_is_a_400(db: None, api: APIClient, name: str) -> None:
    assert_error(post_tag(api, name), 400, "BAD_REQUEST")
    assert not Tag.objects.exists()


@pytest.mark.parametrize("path", ["..", "a.b", "%2e%2e", "a%20b", "x%00"])
def test_a_path_ish_name_in_the_url_is_a_400(db: None, api: APIClient, path: str) -> None:
    assert_error(api.get(f"/api/v1/tags/{path}"), 400, "BAD_REQUEST")


def test_a_name_with_a_slash_names_no_route(db: None, api: APIClient) -> None:
    assert_error(api.get("/api/v1/tags/..%2F..%2Fetc"), 404, "NOT_FOUND")


def test_a_body_that_is_not_an_object_is_a_400(db: None, api: APIClient) -> None:
    assert_error(api.post("/api/v1/tags", ["x"], format="json"), 400, "BAD_REQUEST")
    assert_error(api.post("/api/v1/tags", {"name": "x"}, format="json"), 400, "BAD_REQUEST")


@pytest.mark.parametrize(
    ("prompt", "expanded"),
    [
        ("@greet", "hello"),
        ("say @greet.", "say hello."),
        ("(@greet, @greet)", "(hello, hello)"),
        ("@greet-x", "@greet-x"),  # another name, unknown
        ("@nobody here", "@nobody here"),
        ("mail me@greet.com or me@greet", "mail me@greet.com or me@greet"),
        ("@greet.com", "@greet.com"),  # a domain, not a tag
        ("npm i @greet/pkg", "npm i @greet/pkg"),
        ("@@greet", "@@greet"),
        ("@loop", "see @greet"),  # no recursive expansion
        ("line1\n@greet\n", "line1\nhello\n"),
    ],
)
def test_the_token_rule(db: None, prompt: str, expanded: str) -> None:
    Tag.objects.create(name="greet", content="hello")
    Tag.objects.create(name="loop", content="see @greet")

    assert prompt_expand(prompt) == expanded


def test_a_submitted_prompt_runs_and_is_stored_expanded(
    work: str, api: APIClient, project: Project
) -> None:
    post_tag(api, "greet", "echo tagged-hello")

    started = create_task(api, prompt="@greet && echo me@greet.com")
    run = run_finished(started["run_id"])

    assert run.status == "success"
    assert "tagged-hello" in log_text(run.id)
    assert Run.objects.get(id=run.id).prompt == "echo tagged-hello && echo me@greet.com"
    task_md = storage.task_dir("demo", "t1") / "TASK.md"
    assert storage.file_text(task_md) == "echo tagged-hello && echo me@greet.com"
