"""Writing long JSON lists: built and encoded a batch at a time, byte for byte as DRF's
`JSONRenderer` writes the whole.

A list of 10,000 tasks built whole held ~40 MB of dicts until it was encoded, and that many
objects living that long set off full garbage collections of the server's heap; the encoded
pieces and their joins held the body several times over. Here each batch's dicts die young,
and the body is written once, into one buffer.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from django.http import HttpResponse
from rest_framework.renderers import JSONRenderer


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
