"""SSE framing: JSON goes out as one `data:` line without the generic line split, and that is
byte for byte what the split would give, whatever the strings hold."""

from __future__ import annotations

import json

import pytest

from conductor_site.live.engine import FeedEvent, SharedBatches, framed
from conductor_site.live.sse import sse_event, sse_frame, sse_json, sse_writes


@pytest.mark.parametrize(
    "payload",
    [
        {"line": "plain"},
        {"line": "cr\rlf\ncrlf\r\n", "nested": ["\n", {"k": "\r"}]},
        {"line": "\u2028\u2029\x85 and \x00 and é"},
        [],
        "text",
    ],
)
def test_json_is_framed_as_the_line_split_would(payload: object) -> None:
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    for event, id in ((None, None), ("log", "3:1")):
        assert sse_json(payload, event=event, id=id) == sse_frame(text, event=event, id=id)


def test_a_feed_event_is_framed_by_what_its_data_is() -> None:
    assert sse_event(FeedEvent({"a": 1}, id="7")) == 'id: 7\ndata: {"a":1}\n\n'
    assert sse_event(FeedEvent("two\nlines", name="x")) == "event: x\ndata: two\ndata: lines\n\n"


def test_an_event_is_formatted_once_per_wire_format_and_the_same_bytes() -> None:
    event = FeedEvent({"type": "log", "line": "a\rb"}, id="1:0")
    calls: list[str] = []

    def counted(e: FeedEvent) -> str:
        calls.append("sse")
        return sse_event(e)

    texts = {framed(event, "sse", counted) for _ in range(3)}

    assert texts == {sse_event(event)} and calls == ["sse"]
    assert framed(event, "ws", lambda e: "other") == "other", "each format has its own"
    assert sse_writes([event, event]) == [sse_event(event) * 2]


def test_shared_batches_are_made_once_and_bounded_by_their_sources_size() -> None:
    shared = SharedBatches(max_size=10)
    made: list[str] = []

    def make(key: str) -> list[FeedEvent]:
        made.append(key)
        return [FeedEvent(key)]

    first = shared.get("a", 6, lambda: make("a"))
    assert shared.get("a", 6, lambda: make("a")) is first
    shared.get("b", 6, lambda: make("b"))  # 12 > 10: "a", the oldest, goes
    shared.get("a", 6, lambda: make("a"))

    assert made == ["a", "b", "a"]
