"""Writing JSON: with orjson, byte for byte as the standard library (and DRF's
`JSONRenderer`) write it; long lists built and encoded a batch at a time.

Why orjson: encoding was ~24% of the CPU of the whole task list, and a share of every
response. Its output is the standard library's compact, `ensure_ascii=False` output except
for a few floats (it writes 1.5e-05 as 0.000015 and 1e-07 as 1e-7: both only where a float
below 1e-4 is written, which `_FLOAT_FORM_DIFFERS` finds in the output) and NaN/Infinity (it
writes null; DRF refuses them). Anything orjson cannot encode the same way (an int past 64
bits, a key that is not a string, such a float) is encoded by the standard library instead,
so clients and the tests that pin bytes see no change.

A list of 10,000 tasks built whole held ~40 MB of dicts until it was encoded, and that many
objects living that long set off full garbage collections of the server's heap; the encoded
pieces and their joins held the body several times over. Here each batch's dicts die young,
and the body is written once, into one buffer.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from django.http import HttpResponse
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

_FLOAT_FORM_DIFFERS = re.compile(rb"e-[0-9](?![0-9])|(?<![0-9.])0\.0000")
_DRF_DEFAULT = JSONEncoder().default  # dates as DRF writes them, Decimal, lazy strings, ...


def compact_json(value: Any, default: Callable[[Any], Any] | None = None) -> bytes | None:
    """`json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=default)`
    encoded as UTF-8, or None where orjson could not promise the same bytes."""
    try:
        body = orjson.dumps(value, default=default, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except (TypeError, orjson.JSONEncodeError):
        return None
    return None if _float_form_differs(body) else body


def _float_form_differs(body: bytes) -> bool:
    """The regex is slow (~40 µs a KB: more than the encoding); two plain searches first."""
    if b"e-" not in body and b"0.0000" not in body:
        return False
    return _FLOAT_FORM_DIFFERS.search(body) is not None


class JSONRenderer(renderers.JSONRenderer):
    """DRF's `JSONRenderer`, the same bytes; compact output (no `indent`) through orjson."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        body = None
        if data is not None and self._plain(accepted_media_type, renderer_context):
            body = compact_json(data, _DRF_DEFAULT)
        if body is None:
            return super().render(data, accepted_media_type, renderer_context)
        if b"\xe2\x80" not in body:  # one search for both (they are rare)
            return body
        # as DRF does: U+2028 and U+2029 escaped, for JavaScript that evals the JSON
        return body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")

    def _plain(self, media_type: str | None, context: Mapping[str, Any] | None) -> bool:
        """The output orjson writes: compact, UTF-8, DRF's own encoder."""
        if self.ensure_ascii or not self.compact or self.encoder_class is not JSONEncoder:
            return False
        return self.get_indent(media_type or "", dict(context or {})) is None


def json_list_response(key: str, batches: Iterable[list[dict[str, Any]]]) -> HttpResponse:
    """What `Response({key: items})` sends a JSON client (same bytes, same content type),
    where `items` are the batches' items in order; each batch is encoded as it comes."""
    renderer = JSONRenderer()
    body = io.BytesIO()
    body.write(renderer.render({key: []})[:-2])  # b'{"key":[' as the renderer writes it
    separator = b""
    for batch in batches:
        if batch:
            body.write(separator)
            body.write(renderer.render(batch)[1:-1])
            separator = b","
    body.write(b"]}")
    return HttpResponse(body.getvalue(), content_type="application/json")
