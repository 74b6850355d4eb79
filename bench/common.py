"""Pieces shared by the load benchmarks: the seed questions and a percentile."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "eval" / "seeds.jsonl"


def questions() -> list[str]:
    """The questions of the seeds gold set, in file order."""
    return [json.loads(line)["question"] for line in GOLD.read_text().splitlines() if line.strip()]


def percentile(values: list[float], q: float) -> float:
    """Linearly interpolated percentile `q` (0-100) of `values`; NaN when empty."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = q / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
