"""Django's ASGI handler with the request threads kept for the next requests.

Why: Django's `ASGIHandler` serves each request inside a `ThreadSensitiveContext` of its
own, which makes a new one-thread executor for the request's sync code (its middleware, a
sync view, the signals) and ends it with the request. So every request started a thread, and
the thread was started and ended with it. Here each request borrows an executor from a small
stock and gives it back, through asgiref's public `ThreadSensitiveContext(executor=...)`
(the caller owns the executor; it is not shut down on exit), so its thread serves request
after request. Requests still run one per thread; past `KEEP` at once the extra executors
are made and ended as before. In embedded mode a kept thread also keeps its SQLite
connection (`CONN_MAX_AGE=None`), so a request opens none; in production the connection goes
back to the pool at each request's end.

An SSE stream lets go of its request thread while it streams (`conductor_site.live.sse`
`release_request_thread` shuts its executor down): such an executor is `retired` and is not
given back.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler

KEEP = 16  # executors kept between requests: more than the requests a process runs at once


class RetiringExecutor(ThreadPoolExecutor):
    """One thread; `retired` once shut down, so it is never lent again."""

    retired = False

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.retired = True
        super().shutdown(wait=wait, cancel_futures=cancel_futures)


class RequestThreads:
    """The idle executors. Taken and given back on the event loop only, so no lock."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self.idle: list[RetiringExecutor] = []

    def take(self) -> RetiringExecutor:
        return self.idle.pop() if self.idle else RetiringExecutor()

    def give_back(self, executor: RetiringExecutor) -> None:
        if executor.retired:
            return
        if len(self.idle) < self.keep:
            self.idle.append(executor)
        else:
            executor.shutdown(wait=False)


class ReusedThreadsASGIHandler(ASGIHandler):
    """`ASGIHandler`, each request on a borrowed executor instead of a new one, and the
    middleware chain entered once on it.

    Django builds an ASGI handler's chain around its async core: each sync-only middleware
    (most of ours) is adapted, so a request went loop → thread (the outer middleware) →
    loop (`AsyncToSync`, the inner ones and the core) → thread (the sync view), and each
    `MiddlewareMixin` run async sends its hooks to a thread again. Built sync, as under
    WSGI, the whole chain and a sync view run on the request's thread in one hop; an async
    view (the streams) is run from there by Django (`async_to_sync`) and streams on the loop.
    """

    def __init__(self) -> None:
        super().__init__()
        self.threads = RequestThreads()

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        chain = self._middleware_chain  # type: ignore[has-type]
        self._middleware_chain = sync_to_async(chain, thread_sensitive=True)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.threads.take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.threads.give_back(executor)
