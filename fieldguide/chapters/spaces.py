"""Helpers for the Spaces chapter: a bounded load test over loopback, and latency percentiles.

The app itself, and ``serve()`` (launch on 127.0.0.1, always close), live in fieldguide/finder.py.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any, Sequence

import numpy as np

MAX_REQUESTS = 16  # a load test here is a lesson, not a benchmark: keep it small and on loopback


def load_test(client: Any, api_name: str, requests: Sequence[Sequence[Any]], workers: int = 8) -> dict[str, Any]:
    """Send ``requests`` (argument lists) to ``api_name`` all at once from ``workers`` threads.

    Returns each request's latency in seconds, how many were answered, and the errors' messages.
    """
    if len(requests) > MAX_REQUESTS:
        raise ValueError(f"at most {MAX_REQUESTS} requests: this is a bounded load test")

    def call(arguments: Sequence[Any]) -> tuple[float, Any, str]:
        started = time.perf_counter()
        try:
            result, error = client.predict(*arguments, api_name=api_name), ""
        except Exception as failure:  # a refused or failed request is a result of the test, not a crash
            result, error = None, f"{type(failure).__name__}: {failure}"
        return time.perf_counter() - started, result, error

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(call, requests))
    return {
        "latencies": [seconds for seconds, _, _ in outcomes],
        "results": [result for _, result, _ in outcomes],
        "answered": sum(not error for _, _, error in outcomes),
        "errors": [error for _, _, error in outcomes if error],
    }


def percentiles(latencies: Sequence[float]) -> dict[str, float]:
    """p50 and p95 of a list of latencies, in seconds, to 2 decimals (nearest-rank on a small sample)."""
    values = np.asarray(latencies, dtype=float)
    return {"p50_s": round(float(np.percentile(values, 50)), 2), "p95_s": round(float(np.percentile(values, 95)), 2)}
