"""Group commit: one thread appends whatever bus posts are waiting, in one transaction.

Why: an append alone is a transaction (the bus lock, BEGIN IMMEDIATE on SQLite, a commit
that waits for the disk), so appends one by one top out near a hundred a second however
many clients post. Here every post that arrives while a batch commits waits for the next
one: one lock, one INSERT, one UPDATE and one commit for the whole batch
(`services.messages_insert`), then one publish of the batch's events in pk order, then each
request gets its own row. The thread is the only one that uses its database connection, so
the SQLite connection lives as long as the thread (no file opened per request); a pooled
PostgreSQL one goes back to the pool whenever no post is waiting.

Order holds as for single appends: the batch takes the same bus lock, so pk order is commit
order in every process; the events of a batch leave in pk order, after its commit.
A post that is the client's to fix (an invalid project, a bad type) fails alone, with its
own exception, before anything of it is written; a database error fails the whole batch.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import connection, transaction

from conductor_site.audit import audit_append
from conductor_site.db import connection_release
from conductor_site.errors import DomainError
from conductor_site.live.events import BusMessage
from conductor_site.live.publish import publish_soon
from messagebus.models import QUESTION, Message
from messagebus.services import (
    BusKey,
    MessageInvalid,
    append_lock,
    bus_events,
    bus_made,
    buses_found,
    messages_insert,
)
from tasks.models import Task

log = logging.getLogger(__name__)

BATCH_MAX = 500  # posts per transaction: one INSERT and one UPDATE name them all
T = TypeVar("T")
Outcome = Message | BaseException


@dataclass
class Post:
    """One client's append: the checked fields but the bus, which the writer looks up."""

    project_id: str
    task_id: str | None
    type: str
    body: str
    meta: dict[str, str]
    # The request's audit line once its row exists (conductor_site.audit), if it has one.
    audit: Callable[[Message], dict[str, Any]] | None = None
    # A thread waits on a concurrent Future; a request on an event loop gives one of its
    # loop's futures, so that a batch wakes each loop once (`_settle`), not once per post.
    done: Future[Message] | asyncio.Future[Message] = field(default_factory=Future)


@dataclass
class Written:
    """A committed batch: its posts with their rows, and their doorbells in pk order."""

    posts: list[tuple[Post, Message]]
    events: list[tuple[str, BusMessage]]


class AppendWriter:
    """The process's group-committing writer (`append_writer()`): two threads in a pipeline.

    `bus-writer` commits batches; `bus-deliver` takes what was committed (every batch
    waiting, in commit order), hands its doorbells to the loop, writes its audit lines
    with one fsync, then hands the loop its answers. So a batch commits while the one
    before it waits for the disk or the event loop.
    """

    def __init__(self) -> None:
        self._posts: queue.SimpleQueue[list[Post]] = queue.SimpleQueue()
        self._written: queue.SimpleQueue[Written] = queue.SimpleQueue()
        self._gathering: dict[asyncio.AbstractEventLoop, list[Post]] = {}
        for name, target in (("bus-writer", self._write_batches), ("bus-deliver", self._deliver)):
            threading.Thread(target=target, name=name, daemon=True).start()

    def submit(self, post: Post) -> None:
        """Queue the post; its `done` gets its row (or its error). On an event loop, the
        posts of one turn of the loop (the requests read in one wake-up) are gathered and
        queued together at its end: the writer wakes once for them and they share a batch,
        where queued one by one each woke it and most batches were of one post."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._posts.put([post])
            return
        gathered = self._gathering.get(loop)
        if gathered is None:
            gathered = self._gathering[loop] = []
            loop.call_soon(self._hand_over, loop)
        gathered.append(post)

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        self._posts.put(self._gathering.pop(loop))

    def _write_batches(self) -> None:
        while True:
            posts = [post for posts in _waiting(self._posts) for post in posts]
            for start in range(0, len(posts), BATCH_MAX):
                self._write(posts[start : start + BATCH_MAX])
            _release_when_idle(self._posts)

    def _write(self, batch: list[Post]) -> None:
        try:
            written, refused = _committed_batch(batch)
        except Exception as exc:
            log.warning("a batch of %d bus appends failed", len(batch), exc_info=True)
            connection.close()  # the next batch starts on a fresh connection
            _settle((post, exc) for post in batch)
            return
        _settle(refused)
        self._written.put(written)

    def _deliver(self) -> None:
        """Never touches the database (what it sends was built by the writer), and waits
        for the loop no more: the doorbells are handed to it, the audit lines written (one
        fsync, before any answer), then the answers handed to it, one hop each."""
        while True:
            batches = _waiting(self._written)
            publish_soon(event for batch in batches for event in batch.events)
            written = [item for batch in batches for item in batch.posts]
            _audit(written)
            _settle(written)


def _release_when_idle(items: queue.SimpleQueue[Any]) -> None:
    """Nothing more to do: a pooled connection (production) goes back to the pool; SQLite's
    stays open (conductor_site.db)."""
    if items.empty():
        connection_release()


def _waiting(items: queue.SimpleQueue[T], most: int | None = None) -> list[T]:
    """The next item (waiting for one), then every other already there, up to `most`."""
    batch = [items.get()]
    while most is None or len(batch) < most:
        try:
            batch.append(items.get_nowait())
        except queue.Empty:
            break
    return batch


def _committed_batch(batch: list[Post]) -> tuple[Written, list[tuple[Post, Outcome]]]:
    """The batch's valid posts with their rows, once committed, and the refused ones with
    their errors (the client's to fix: they fail alone, before anything is written)."""
    rows: list[tuple[Post, dict[str, Any]]] = []
    refused: list[tuple[Post, Outcome]] = []
    with transaction.atomic():
        append_lock(asks_or_answers=any(post.type == QUESTION for post in batch))
        buses = buses_found((post.project_id, post.task_id) for post in batch)
        for post in batch:
            try:
                rows.append((post, _row(post, buses)))
            except (DomainError, MessageInvalid) as exc:
                refused.append((post, exc))
        messages, before = messages_insert([fields for _, fields in rows]) if rows else ([], {})
    posts = [(post, message) for (post, _), message in zip(rows, messages, strict=True)]
    return Written(posts, bus_events(messages, before)), refused


def _row(post: Post, buses: dict[BusKey, Task | None]) -> dict[str, Any]:
    key = (post.project_id, post.task_id)
    if key not in buses:  # a bus not made yet (or not to be made: the post fails alone)
        buses[key] = bus_made(*key)
    return {
        "project_id": post.project_id,
        "task": buses[key],
        "run_id": None,
        "type": post.type,
        "body": post.body,
        "parents": [],
        "meta": post.meta,
    }


def _settle(outcomes: Iterable[tuple[Post, Outcome]]) -> None:
    """Each post gets its row or its error. The futures of an event loop are set by one
    callback on it for the whole batch: each `call_soon_threadsafe` wakes the loop, and
    one per post was a share of the server's CPU per append of its own."""
    on_loops: dict[asyncio.AbstractEventLoop, list[tuple[Any, Outcome]]] = {}
    for post, outcome in outcomes:
        if isinstance(post.done, asyncio.Future):
            on_loops.setdefault(post.done.get_loop(), []).append((post.done, outcome))
        else:
            _resolve(post.done, outcome)
    for loop, items in on_loops.items():
        with suppress(RuntimeError):  # the loop is closed: nobody waits on it any more
            loop.call_soon_threadsafe(_resolve_all, items)


def _resolve_all(items: list[tuple[Any, Outcome]]) -> None:
    for future, outcome in items:
        _resolve(future, outcome)


def _resolve(future: Future[Message] | asyncio.Future[Message], outcome: Outcome) -> None:
    if future.done():  # cancelled: the request went away
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _audit(written: list[tuple[Post, Message]]) -> None:
    """The batch's audit lines in one write; a failure is logged, the appends stand."""
    records = [post.audit(message) for post, message in written if post.audit is not None]
    try:
        audit_append(*records)
    except Exception:
        log.warning("could not write the form-submission audit log", exc_info=True)


_writer: AppendWriter | None = None
_writer_lock = threading.Lock()


def append_writer() -> AppendWriter:
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = AppendWriter()
        return _writer
