"""Running one function over several items in threads (pulls, creations, the stops of a group)."""

from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def in_parallel(function: Callable[[T], R], items: list[T], workers: int) -> list[R]:
    """Results in the items' order; no thread for a single item (the usual no-op case)."""
    if len(items) <= 1:
        return [function(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor  # only here: its import is not free
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(function, items))
