"""Group commit: one thread appends whatever bus posts are waiting, in one transaction.

Why: an append alone is a transaction (the bus lock, BEGIN IMMEDIATE on SQLite, a commit
that waits for the disk), so appends one by one top out near a hundred a second however
many clients post. Here every post that arrives while a batch commits waits for the next
one: one lock, one INSERT, one UPDATE and one commit for the whole batch
(`services.messages_insert`), then one publish of the batch's events in pk order, then each
request gets its own row. The thread is the only one that uses its database connection, so
the connection lives as long as the thread (no SQLite file opened per request).

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
from typing import Any

from django.db import connection, transaction

from conductor_site.audit import audit_append
from conductor_site.errors import DomainError
from messagebus.models import Message
from messagebus.publish import publish_many
from messagebus.services import MessageInvalid, bus_events, bus_made, messages_insert

log = logging.getLogger(__name__)

BATCH_MAX = 500  # posts per transaction: one UPDATE names them all


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
    """The process's one group-committing writer (`append_writer()`), started on first use."""

    def __init__(self) -> None:
        self._posts: queue.SimpleQueue[Post] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="bus-writer", daemon=True)
        self._thread.start()

    def submit(self, post: Post) -> Future[Message]:
        self._posts.put(post)
        return post.done

    def _run(self) -> None:
        while True:
            batch = [self._posts.get()]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self._posts.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch: list[Post]) -> None:
        try:
            written = _committed_batch(batch)
        except Exception as exc:
            log.warning("a batch of %d bus appends failed", len(batch), exc_info=True)
            connection.close()  # the next batch starts on a fresh connection
            for post in batch:
                post.done.set_exception(exc)
            return
        publish_many(bus_events([message for _, message in written]))
        _audit(written)
        for post, message in written:
            post.done.set_result(message)


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
