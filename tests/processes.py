"""Races between processes for the tests of state shared across processes (the limiter stores)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def run_together(ctx: Any, target: Callable[..., None], args_per_child: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Starts one `ctx` process per args tuple running `target(start, results, *args)`, releases them at once
    (`start` is an Event) so their work overlaps, and returns the one value each puts in `results` (a Queue), in
    the order they arrive; every child must exit cleanly."""
    start, results = ctx.Event(), ctx.Queue()
    children = [ctx.Process(target=target, args=(start, results, *args)) for args in args_per_child]
    for child in children:
        child.start()
    start.set()
    values = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(10)
        assert child.exitcode == 0
    return values
