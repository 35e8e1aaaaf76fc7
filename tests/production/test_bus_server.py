"""The bus's real-server tests (tests/messagebus/test_bus_server.py) on a production-mode
`conductor serve`: PostgreSQL (the batch's SQL there, the advisory lock, a bus deleted
between its lookup and the insert) and the Redis channel layer carrying the doorbells. The
full-disk test stays embedded: it limits the server's own files, which PostgreSQL's are not."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.messagebus import test_bus_server as bus
from tests.processes import Server

pytestmark = pytest.mark.production


@pytest.fixture
def server(start_server: Callable[..., Server]) -> Server:
    return start_server()


test_concurrent_posts_are_stored_and_streamed_live_once_each_in_order = (
    bus.test_concurrent_posts_are_stored_and_streamed_live_once_each_in_order
)
test_a_bus_deleted_while_posts_flow_answers_every_post_and_works_after = (
    bus.test_a_bus_deleted_while_posts_flow_answers_every_post_and_works_after
)
