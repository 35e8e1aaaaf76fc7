"""The pages a person opens besides the dashboard: Swagger UI and DRF's browsable API."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import url
from tests.processes import Server


def test_the_root_leads_to_the_ui_page_and_on_to_the_api_docs(page: Page, server: Server) -> None:
    page.goto(url(server, "/"))

    expect(page).to_have_url(url(server, "/ui/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Projects")
    page.get_by_role("link", name="API documentation").click()

    expect(page).to_have_url(url(server, "/api/docs/"))
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Conductor API")


def test_swagger_ui_calls_the_api_and_shows_the_answer(page: Page, server: Server) -> None:
    page.goto(url(server, "/api/docs/"))
    health = page.locator(".opblock").filter(has_text="/api/v1/health").first

    health.locator(".opblock-summary").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()

    answer = health.locator(".responses-wrapper .live-responses-table")
    expect(answer).to_contain_text("200")
    expect(answer).to_contain_text('"status": "ok"')


def test_the_browsable_api_renders_a_list_and_errors_stay_json(page: Page, server: Server) -> None:
    assert (
        server.request("POST", "/api/v1/messages", {"project_id": "demo", "body": "hi"})[0] == 201
    )

    page.goto(url(server, "/api/v1/messages?project_id=demo"))

    expect(page.locator(".response-info")).to_contain_text('"body": "hi"')
    expect(page).to_have_title(re.compile("Django REST framework"))
    missing = page.goto(url(server, "/api/v1/runs/nope"))
    assert missing is not None and missing.status == 404
    assert missing.headers["content-type"].startswith("application/json")
