"""The Ralph loop's settings, `config.loop`: `true`, or `{"max_iterations": n, "delay_seconds": s}`.

Its bounds live here. `POST /api/v1/tasks` checks a loop against them (`LoopSerializer`, a 400
naming the field), so `max_iterations: 1e30` or `"x"` fails at once instead of running
thousands of runs or failing later in the planner. A stored loop is read back leniently
(`loop_of`): a row written before the check, or a cap lowered since, still loops within the
bounds rather than failing the end of an attempt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework import serializers

DEFAULT_MAX_ITERATIONS = 10
DELAY_MAX_SECONDS = 86_400.0  # a day between iterations at most


def max_iterations_cap() -> int:
    return int(settings.CONDUCTOR["LOOP_MAX_ITERATIONS"])


@dataclass(frozen=True)
class Loop:
    max_iterations: int = DEFAULT_MAX_ITERATIONS
    delay_seconds: float = 0.0


class LoopSerializer(serializers.Serializer):
    max_iterations = serializers.IntegerField(
        min_value=1, required=False, help_text="Agent runs in all; at most LOOP_MAX_ITERATIONS."
    )
    delay_seconds = serializers.FloatField(min_value=0, max_value=DELAY_MAX_SECONDS, required=False)

    def validate_max_iterations(self, value: int) -> int:
        if value > (cap := max_iterations_cap()):
            raise serializers.ValidationError(f"Ensure this value is less than or equal to {cap}.")
        return value


def loop_checked(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with its loop checked and its numbers as numbers; other keys untouched."""
    loop = config.get("loop")
    if loop is None or isinstance(loop, bool):
        return config
    if not isinstance(loop, dict):
        raise serializers.ValidationError({"loop": ["Must be true, false or an object."]})
    checked = LoopSerializer(data=loop)
    if not checked.is_valid():
        raise serializers.ValidationError({"loop": checked.errors})
    return {**config, "loop": {**loop, **checked.validated_data}}


def loop_of(config: Any) -> Loop | None:
    """The stored loop, within the bounds whatever was stored; None without one."""
    loop = config.get("loop") if isinstance(config, dict) else None
    if loop is True:
        return Loop()
    if not isinstance(loop, dict):
        return None
    iterations = _number(loop.get("max_iterations"), DEFAULT_MAX_ITERATIONS)
    delay = _number(loop.get("delay_seconds"), 0.0)
    return Loop(
        max_iterations=int(min(max(iterations, 1), max_iterations_cap())),
        delay_seconds=min(max(delay, 0.0), DELAY_MAX_SECONDS),
    )


def _number(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return number if math.isfinite(number) else default
