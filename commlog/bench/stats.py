"""What every bench measures with: `timed` (wall time of repeated runs) gives a `Timing`, whose p95
is `percentile`; `peak_memory_mb` (Python allocations while a call runs)."""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass


def percentile(samples: Iterable[float], pct: int) -> float:
    """The nearest-rank percentile: the smallest sample with at least `pct` % of the samples at or
    below it (rank ceil(pct/100 × n)). Always a measured value, never one made up between two: with
    fewer than 20 samples the p95 is the slowest run, not an estimate below it."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("percentile of no samples")
    if not 0 < pct <= 100:
        raise ValueError(f"percentile {pct}: give 1 to 100")
    return ordered[-(-pct * len(ordered) // 100) - 1]


@dataclass(frozen=True)
class Timing:
    """Wall-clock samples of one measured thing, in milliseconds (figures are 0.0 without samples),
    and what its last run returned."""

    samples_ms: tuple[float, ...]
    result: object = None

    @classmethod
    def of_seconds(cls, seconds: Iterable[float]) -> Timing:
        return cls(tuple(1000 * s for s in seconds))

    @property
    def runs(self) -> int:
        return len(self.samples_ms)

    @property
    def seconds(self) -> float:
        """All the runs together, in seconds."""
        return sum(self.samples_ms) / 1000

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else 0.0

    @property
    def p95_ms(self) -> float:
        return percentile(self.samples_ms, 95) if self.samples_ms else 0.0

    @property
    def max_ms(self) -> float:
        return max(self.samples_ms, default=0.0)


def timed(fn: Callable[[], object], repeat: int = 1, warmup: int = 0) -> Timing:
    """`fn` run `warmup` times untimed, then `repeat` times (at least once) timed."""
    for _ in range(warmup):
        fn()
    samples = []
    result = None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return Timing(tuple(samples), result)


def peak_memory_mb(fn: Callable[[], object]) -> float:
    """Peak Python-level allocation (tracemalloc, includes numpy/pandas buffers) while `fn` runs."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1e6
