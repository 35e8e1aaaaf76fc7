"""SSE framing: JSON goes out as one `data:` line without the generic line split, and that is
byte for byte what the split would give, whatever the strings hold."""

from __future__ import annotations

import json

import pytest

from conductor_site.live.engine import FeedEvent
from conductor_site.live.sse import sse_event, sse_frame, sse_json


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
