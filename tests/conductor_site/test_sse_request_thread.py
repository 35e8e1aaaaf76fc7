"""An open stream gives back the thread Django keeps for its request
(`conductor_site.live.sse.release_request_thread`). That reaches into asgiref internals; these tests
fail when an asgiref upgrade moves them, where streams would otherwise quietly keep a thread
each (test_stream_run_log.py's hundred open streams would show it too, less plainly)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import MutableMapping

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async

from conductor_site.live.sse import release_request_thread


def test_asgiref_still_has_the_internals_the_release_reads() -> None:
    assert isinstance(SyncToAsync.thread_sensitive_context, contextvars.ContextVar)
    assert isinstance(SyncToAsync.context_to_thread_executor, MutableMapping)


def test_the_request_thread_ends_and_later_sync_calls_get_a_new_one() -> None:
    async def request() -> tuple[threading.Thread, threading.Thread]:
        async with ThreadSensitiveContext():  # as Django's ASGIHandler serves each request
            before = await sync_to_async(threading.current_thread)()
            release_request_thread()
            after = await sync_to_async(threading.current_thread)()
            return before, after

    before, after = asyncio.run(request())
    before.join(timeout=30)
    assert not before.is_alive(), "the request's thread is still parked"
    assert after is not before
