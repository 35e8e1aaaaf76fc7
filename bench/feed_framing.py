"""What the feed layer costs per log line: a run-log batch framed as SSE the way the streams
did before the feed engine (each line JSON-encoded straight into SSE text by the old
`sse_json`, copied here) and the way they do now (each line a `FeedEvent`, framed by
`conductor_site.live.sse`), side by side in one run.

Usage: .venv/bin/python bench/feed_framing.py [--lines N] [--passes P] [--runs R]

A run frames N lines both ways P times, alternating, and keeps each way's best pass (the
least disturbed by the machine's other load); prints min/median/max of that µs per line over
R runs, and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")

import django

django.setup()

from conductor_site.live.engine import FeedEvent  # noqa: E402
from conductor_site.live.sse import FRAMES_PER_WRITE, sse_event, sse_frame  # noqa: E402

STAMP = "2026-12-01T11:00:00.123456Z"


def old_sse_json(payload: Any, *, event: str | None = None, id: str | None = None) -> str:
    """`sse_json` before the feed engine: the JSON text through `sse_frame`'s line split."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return sse_frame(text, event=event, id=id)


def lines_of(count: int) -> list[tuple[int, int, str]]:
    return [(1 + n // 50, n % 50, f"line {n}: " + "x" * 60) for n in range(count)]


def before(lines: list[tuple[int, int, str]]) -> str:
    return "".join(
        old_sse_json(
            {"type": "log", "timestamp": STAMP, "line": line, "stream": "stdout"},
            id=f"{seq}:{index}",
        )
        for seq, index, line in lines
    )


def now(lines: list[tuple[int, int, str]]) -> str:
    batch = [
        FeedEvent(
            {"type": "log", "timestamp": STAMP, "line": line, "stream": "stdout"},
            id=f"{seq}:{index}",
        )
        for seq, index, line in lines
    ]
    return "".join(
        "".join(sse_event(e) for e in batch[start : start + FRAMES_PER_WRITE])
        for start in range(0, len(batch), FRAMES_PER_WRITE)
    )


def per_line_us(frame: Callable[[list[tuple[int, int, str]]], str], lines: list) -> float:
    started = time.perf_counter()
    frame(lines)
    return (time.perf_counter() - started) / len(lines) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5_000)
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lines = lines_of(args.lines)
    assert before(lines) == now(lines), "the two ways must frame the same bytes"
    timings: dict[str, list[float]] = {"before": [], "now": []}
    for _ in range(args.runs):
        best = {"before": float("inf"), "now": float("inf")}
        for _ in range(args.passes):
            best["before"] = min(best["before"], per_line_us(before, lines))
            best["now"] = min(best["now"], per_line_us(now, lines))
        for name, value in best.items():
            timings[name].append(value)
    for name, values in timings.items():
        print(
            f"{name:6} µs/line min {min(values):.2f} median {statistics.median(values):.2f} "
            f"max {max(values):.2f}"
        )
    ratio = statistics.median(timings["now"]) / statistics.median(timings["before"])
    print(f"now / before (medians): {ratio:.3f}")


if __name__ == "__main__":
    main()
