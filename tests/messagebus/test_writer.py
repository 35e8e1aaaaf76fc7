"""Group commit (messagebus.writer): a batch costs what one append costs, order holds, and a
bad post fails alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection

from messagebus import writer
from messagebus.models import Message
from messagebus.writer import Post, _committed_batch, append_writer
from projects.creation import ProjectInvalid
from projects.models import Project

pytestmark = pytest.mark.django_db(transaction=True)


def posts(count: int, project_id: str = "demo", task_id: str | None = "t1") -> list[Post]:
    return [
        Post(project_id=project_id, task_id=task_id, type="FACT", body=f"b{n}", meta={})
        for n in range(count)
    ]


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every statement SQLite runs on this thread's connection, whichever cursor sent it
    (the batch's go past Django's, so `CaptureQueriesContext` does not see them)."""
    connection.ensure_connection()
    ran: list[str] = []
    connection.connection.set_trace_callback(ran.append)
    try:
        yield ran
    finally:
        connection.connection.set_trace_callback(None)


def statements_of_a_batch(count: int) -> list[str]:
    with statements() as ran:
        written, refused = _committed_batch(posts(count))
    assert len(written.posts) == count and not refused
    return [statement.split()[0] for statement in ran]


def test_a_batch_of_many_runs_the_statements_of_a_batch_of_one() -> None:
    Project.objects.create(id="demo")
    statements_of_a_batch(1)  # the task's bus is made: later batches only find it

    # the bus lookup, one read of the last time and the buses' newest ids, INSERT, UPDATE
    expected = ["BEGIN", "SELECT", "SELECT", "INSERT", "UPDATE", "COMMIT"]
    assert statements_of_a_batch(1) == statements_of_a_batch(100) == expected
    ids = list(Message.objects.order_by("id").values_list("msg_id", flat=True))
    assert ids == sorted(ids) and len(set(ids)) == 102
    assert all(m.msg_id.endswith(f"{m.pk:012d}") for m in Message.objects.all())


@pytest.mark.production  # also on PostgreSQL: each statement there is a round trip
def test_a_batch_to_many_buses_finds_them_in_one_statement_for_each_kind() -> None:
    Project.objects.create(id="demo")

    def mixed() -> list[Post]:  # three tasks' buses and the project's
        return [post for task_id in ("t1", "t2", "t3", None) for post in posts(2, task_id=task_id)]

    _committed_batch(mixed())  # the tasks' buses are made: later batches only find them
    if connection.vendor == "sqlite":
        with statements() as ran:
            written, refused = _committed_batch(mixed())
        # the projects' buses, the tasks' buses, the newest ids, INSERT, UPDATE
        expected = ["BEGIN", "SELECT", "SELECT", "SELECT", "INSERT", "UPDATE", "COMMIT"]
        assert [statement.split()[0] for statement in ran] == expected
    else:
        written, refused = _committed_batch(mixed())
    assert not refused
    assert [message.task.task_id if message.task else None for _, message in written.posts] == [
        "t1",
        "t1",
        "t2",
        "t2",
        "t3",
        "t3",
        None,
        None,
    ]


@pytest.mark.production  # also on PostgreSQL (`-m production`): the batch's SQL there
def test_a_refused_post_fails_alone() -> None:
    good, bad, other = posts(1)[0], posts(1, project_id="_audit")[0], posts(1, task_id=None)[0]

    written, refused = _committed_batch([good, bad, other])

    assert [post for post, _ in written.posts] == [good, other]
    assert [(post, type(error)) for post, error in refused] == [(bad, ProjectInvalid)]
    assert Message.objects.count() == 2


@pytest.mark.production
def test_concurrent_posts_commit_and_ring_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    rung: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(writer, "publish_soon", rung.extend)
    by_thread: dict[int, list[str]] = {}

    def post_in_turn(n: int) -> None:
        for post in posts(25):
            append_writer().submit(post)
            assert isinstance(post.done, Future)
            by_thread.setdefault(n, []).append(post.done.result(30).msg_id)

    threads = [threading.Thread(target=post_in_turn, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stored = list(Message.objects.order_by("id").values_list("msg_id", flat=True))
    assert len(stored) == 200 and stored == sorted(stored)
    assert all(ids == sorted(ids) for ids in by_thread.values())
    for group in ("bus.demo", "bus.demo.t1"):
        assert [event["msg_id"] for g, event in rung if g == group] == stored
