"""`/metrics`: the contract's metrics, their types, the content type, and what they count."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from conductor_site.metrics import CONTENT_TYPE
from projects import storage
from projects.models import Project
from tests.conftest import create_task, run_finished, wait_for

# The name a parsed family carries (a counter's drops `_total`), and its type.
CONTRACT_METRICS = {
    "conductor_uptime_seconds": "gauge",
    "conductor_active_runs_total": "gauge",
    "conductor_completed_runs": "counter",
    "conductor_failed_runs": "counter",
    "conductor_messagebus_appends": "counter",
    "conductor_api_requests": "counter",
}
WAIT_FOR_GO = 'while [ ! -f "$CONDUCTOR_TASK_DIR/go" ]; do sleep 0.02; done'


def scrape(api: APIClient) -> dict[str, Any]:
    response = api.get("/metrics")
    assert response.status_code == 200
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def value(families: dict[str, Any], name: str, **labels: str) -> float:
    family = families.get(name)
    for sample in family.samples if family else []:
        if sample.name in (name, f"{name}_total") and sample.labels == labels:
            return float(sample.value)
    return 0.0


def test_metrics_answer_prometheus_text_0_0_4(db: None, api: APIClient) -> None:
    response = api.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8" == CONTENT_TYPE
    text = response.content.decode()
    assert "# HELP conductor_uptime_seconds Server uptime in seconds" in text
    assert "# TYPE conductor_active_runs_total gauge" in text
    assert "\nconductor_active_runs_total 0.0\n" in text
    assert "# TYPE conductor_completed_runs_total counter" in text


def test_every_contract_metric_is_there_with_its_type(db: None, api: APIClient) -> None:
    api.get("/api/v1/health")

    families = scrape(api)

    assert {name: families[name].type for name in CONTRACT_METRICS} == CONTRACT_METRICS
    assert value(families, "conductor_uptime_seconds") > 0


def test_django_prometheus_metrics_stay_on_the_same_page(db: None, api: APIClient) -> None:
    api.get("/api/v1/health")

    families = scrape(api)

    assert "django_http_requests_total_by_method" in families
    assert "django_http_responses_total_by_status" in families


def test_database_queries_are_counted_by_django_prometheus(db: None, api: APIClient) -> None:
    before = value(scrape(api), "django_db_execute", alias="default", vendor="sqlite")

    assert api.get("/api/v1/tasks").status_code == 200  # a query on the database

    after = scrape(api)
    assert value(after, "django_db_execute", alias="default", vendor="sqlite") > before
    assert "django_db_query_duration_seconds" in after


def test_api_requests_are_counted_by_method_and_status(db: None, api: APIClient) -> None:
    before = scrape(api)

    for _ in range(3):
        api.get("/api/v1/health")
    api.get("/api/v1/nope")
    api.put("/api/v1/tasks")
    after = scrape(api)

    def delta(**labels: str) -> float:
        name = "conductor_api_requests"
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(method="GET", status="200") == 3
    assert delta(method="GET", status="404") == 1
    assert delta(method="PUT", status="405") == 1


def test_scraping_metrics_is_not_counted(db: None, api: APIClient) -> None:
    first = scrape(api)
    second = scrape(api)
    third = scrape(api)

    counts = [
        value(f, "conductor_api_requests", method="GET", status="200")
        for f in (first, second, third)
    ]
    assert counts[0] == counts[1] == counts[2]


def test_metrics_only_answer_get(db: None, api: APIClient) -> None:
    response = api.post("/metrics")

    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"


def test_message_appends_are_counted(api: APIClient, project: Project) -> None:
    before = value(scrape(api), "conductor_messagebus_appends")

    for n in range(2):
        body = {"project_id": "demo", "body": f"note {n}"}
        assert api.post("/api/v1/messages", body, format="json").status_code == 201

    assert value(scrape(api), "conductor_messagebus_appends") - before == 2


def test_runs_are_counted_while_running_and_when_they_end(
    work: str, api: APIClient, project: Project
) -> None:
    before = scrape(api)
    held = create_task(api, task_id="held", prompt=WAIT_FOR_GO)
    wait_for(lambda: value(scrape(api), "conductor_active_runs_total") >= 1, 60, "an active run")

    ok = run_finished(create_task(api, task_id="ok", prompt="true")["run_id"])
    bad = run_finished(create_task(api, task_id="bad", prompt="exit 3")["run_id"])
    (storage.task_dir("demo", "held") / "go").touch()
    released = run_finished(held["run_id"])
    after = scrape(api)

    assert (ok.status, bad.status, released.status) == ("success", "failed", "success")
    completed = value(after, "conductor_completed_runs") - value(before, "conductor_completed_runs")
    failed = value(after, "conductor_failed_runs") - value(before, "conductor_failed_runs")
    assert (completed, failed) == (2, 1)
    assert value(after, "conductor_active_runs_total") == 0
