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

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import connection, transaction

from conductor_site.audit import audit_append
from conductor_site.db import connection_release
from conductor_site.errors import DomainError
from messagebus.models import Message
from messagebus.publish import publish_many
from messagebus.services import MessageInvalid, bus_events, bus_made, messages_insert

log = logging.getLogger(__name__)

BATCH_MAX = 500  # posts per transaction: one UPDATE names them all
T = TypeVar("T")


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
    done: Future[Message] = field(default_factory=Future)


class AppendWriter:
    """The process's group-committing writer (`append_writer()`): two threads in a pipeline.

    `bus-writer` commits batches; `bus-deliver` takes what was committed (every batch
    waiting, in commit order), publishes its doorbells, writes its audit lines with one
    fsync, then answers the requests. So a batch commits while the one before it waits for
    the disk or the event loop.
    """

    def __init__(self) -> None:
        self._posts: queue.SimpleQueue[Post] = queue.SimpleQueue()
        self._written: queue.SimpleQueue[list[tuple[Post, Message]]] = queue.SimpleQueue()
        for name, target in (("bus-writer", self._write_batches), ("bus-deliver", self._deliver)):
            threading.Thread(target=target, name=name, daemon=True).start()

    def submit(self, post: Post) -> Future[Message]:
        self._posts.put(post)
        return post.done

    def _write_batches(self) -> None:
        while True:
            batch = _waiting(self._posts, BATCH_MAX)
            try:
                self._written.put(_committed_batch(batch))
                _release_when_idle(self._posts)
            except Exception as exc:
                log.warning("a batch of %d bus appends failed", len(batch), exc_info=True)
                connection.close()  # the next batch starts on a fresh connection
                for post in batch:
                    if not post.done.done():
                        post.done.set_exception(exc)

    def _deliver(self) -> None:
        while True:
            written = [item for batch in _waiting(self._written) for item in batch]
            try:
                publish_many(bus_events([message for _, message in written]))
            except Exception:  # the rows are committed: a stream re-reads them
                log.warning("the doorbells of %d bus appends failed", len(written), exc_info=True)
                connection.close()
            _audit(written)
            for post, message in written:
                post.done.set_result(message)
            _release_when_idle(self._written)


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


def _committed_batch(batch: list[Post]) -> list[tuple[Post, Message]]:
    """The batch's posts that were valid, with their rows, once committed."""
    with transaction.atomic():
        buses: dict[tuple[str, str | None], Any] = {}
        rows: list[tuple[Post, dict[str, Any]]] = []
        for post in batch:
            try:
                rows.append((post, _row(post, buses)))
            except (DomainError, MessageInvalid) as exc:
                post.done.set_exception(exc)
        messages = messages_insert([fields for _, fields in rows]) if rows else []
    return [(post, message) for (post, _), message in zip(rows, messages, strict=True)]


def _row(post: Post, buses: dict[tuple[str, str | None], Any]) -> dict[str, Any]:
    key = (post.project_id, post.task_id)
    if key not in buses:
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
