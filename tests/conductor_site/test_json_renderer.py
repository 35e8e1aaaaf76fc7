"""The orjson renderer writes DRF's `JSONRenderer` bytes exactly, and `compact_json` the
standard library's: the floats orjson writes otherwise, strings that need escaping, values
only DRF's encoder knows, and what orjson cannot encode at all."""

from __future__ import annotations

import datetime
import json
import random
import struct
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.utils.translation import gettext_lazy
from rest_framework import renderers

from conductor_site.renderers import JSONRenderer, compact_json

UTC = datetime.UTC
VALUES: list[Any] = [
    {"tasks": [], "n": 0, "ok": True, "none": None},
    {"floats": [0.1, 1.5e-05, 1e-07, 2.5e-8, 1e-4, 1e16, 1e22, -0.0, 1e-100, 0.00001]},
    {"text": 'é \u2028 \u2029 \x00 \x1f \x7f " \\ / \t\n\r\b\f 😀 “q”'},
    {"at": datetime.datetime(2026, 12, 1, 15, 0, 0, 123456, tzinfo=UTC)},
    {"day": datetime.date(2026, 12, 1), "time": datetime.time(1, 2, 3)},
    {"naive": datetime.datetime(2026, 12, 1, 15, 0)},
    {"money": Decimal("1.10"), "id": uuid.UUID(int=7), "lazy": gettext_lazy("hello")},
    {"big": 2**64, "neg": -(2**63) - 1},
    {1: "an int key", "tuple": (1, 2)},
    [{"version": "0.00001", "mix": "e-5"}],
]


def _random_floats(count: int) -> list[float]:
    """Doubles from every exponent: orjson and `repr` write some of them differently."""
    rng = random.Random(8)
    out: list[float] = []
    while len(out) < count:
        value = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        if value == value and abs(value) != float("inf"):
            out.append(value * 10.0 ** rng.randint(-300, 0))
    return out


@pytest.mark.parametrize("value", [*VALUES, _random_floats(5000)])
def test_the_renderer_writes_drfs_bytes(value: Any) -> None:
    assert JSONRenderer().render(value) == renderers.JSONRenderer().render(value)


@pytest.mark.parametrize("media_type", ["application/json; indent=4", "application/json"])
def test_an_indented_or_plain_request_gets_drfs_bytes(media_type: str) -> None:
    value = VALUES[2]
    ours = JSONRenderer().render(value, media_type, {})
    assert ours == renderers.JSONRenderer().render(value, media_type, {})


def _json_can(value: Any) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True


@pytest.mark.parametrize("value", [v for v in VALUES if _json_can(v)])
def test_compact_json_is_the_standard_librarys_or_none(value: Any) -> None:
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert compact_json(value) in (expected, None)


def test_compact_json_of_floats_is_the_standard_librarys_or_none() -> None:
    for value in _random_floats(5000):
        expected = json.dumps(value).encode()
        assert compact_json(value) in (expected, None), value


def test_common_values_go_through_orjson_and_what_json_refuses_does_not() -> None:
    assert compact_json({"a": [1, "x", 0.5, None], "b": {"c": "é"}}) == (
        '{"a":[1,"x",0.5,null],"b":{"c":"é"}}'.encode()
    )
    assert compact_json({"at": datetime.datetime.now(tz=UTC)}) is None  # json raises TypeError
