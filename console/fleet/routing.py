"""Which worker takes a new call: a pure choice over what the heartbeats say (issue 17)."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from console.fleet.registry import WorkerBeat


def choose(workers: Iterable[WorkerBeat]) -> WorkerBeat | None:
    """The least loaded worker that takes calls, or None when every one is full or draining.

    Least loaded is the smallest share of its capacity in use: a 200-line worker with 50 calls is
    less loaded than a 100-line one with 40. Equal shares go to the worker with more free lines,
    then to the first by name, so that every worker choosing from the same beats chooses alike."""
    return min((w for w in workers if w.takes_calls), key=_least_loaded_first, default=None)


def _least_loaded_first(worker: WorkerBeat) -> tuple[Fraction, int, str]:
    return Fraction(worker.load, worker.capacity), worker.load - worker.capacity, worker.name
