"""Timing helpers for benches."""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p95_ms: float
    runs: int


def timed(fn: Callable[[], object], repeat: int, warmup: int = 1) -> Timing:
    """Median and 95th percentile wall time of `fn` over `repeat` runs (after `warmup` runs)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, max(0, round(0.95 * len(samples)) - 1))]
    return Timing(statistics.median(samples), p95, len(samples))


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
