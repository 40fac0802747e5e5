"""Which worker takes a new call: the least loaded that is neither full nor draining."""

from __future__ import annotations

import pytest

from console.fleet.registry import WorkerBeat
from console.fleet.routing import choose


def worker(name: str, load: int, capacity: int = 100, draining: bool = False) -> WorkerBeat:
    return WorkerBeat(name=name, url=f"https://{name}.example.test", load=load,
                      capacity=capacity, draining=draining, pid=1, beat_at=0.0)


CASES = [
    # (why, workers, chosen)
    ("no worker at all: every line is busy", [], None),
    ("the only worker, with room", [worker("a", 99)], "a"),
    ("the fewer calls", [worker("a", 3), worker("b", 2)], "b"),
    ("the smaller share of its capacity, not the fewer calls",
     [worker("a", 40, 100), worker("b", 50, 200)], "b"),
    ("never a full worker", [worker("a", 100), worker("b", 99)], "b"),
    ("never a worker over its capacity (it was lowered)", [worker("a", 5, 4), worker("b", 9)], "b"),
    ("never a draining worker, even an idle one",
     [worker("a", 0, draining=True), worker("b", 90)], "b"),
    ("every worker full or draining: busy",
     [worker("a", 100), worker("b", 0, draining=True)], None),
    ("an equal share goes to the one with more free lines",
     [worker("a", 10, 100), worker("b", 20, 200)], "b"),
    ("idle workers: the larger first", [worker("a", 0, 100), worker("b", 0, 200)], "b"),
    ("a full tie goes to the first by name", [worker("b", 5), worker("a", 5)], "a"),
]


@pytest.mark.parametrize(("why", "workers", "chosen"), CASES, ids=[case[0] for case in CASES])
def test_routing_chooses_the_least_loaded_healthy_worker(
        why: str, workers: list[WorkerBeat], chosen: str | None) -> None:
    picked = choose(workers)
    assert (picked.name if picked else None) == chosen, why


@pytest.mark.parametrize(("why", "workers", "chosen"), CASES, ids=[case[0] for case in CASES])
def test_every_worker_choosing_from_the_same_beats_chooses_alike(
        why: str, workers: list[WorkerBeat], chosen: str | None) -> None:
    picked = choose(reversed(workers))
    assert (picked.name if picked else None) == chosen, why
