"""The app's models live where their domain is; importing them here registers them."""

from __future__ import annotations

from conductor_site.live.models import Event, EventPruning

__all__ = ["Event", "EventPruning"]
