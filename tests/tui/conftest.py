from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from .fakes import T0, FakeBackend


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


def frozen_clock(at: float = T0 + 42.0) -> Callable[[], float]:
    return lambda: at


async def wait_until(pilot: Pilot, condition: Callable[[], object], within: float = 3.0) -> None:
    """Let the app run until `condition()` holds; fail if it does not within `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition never held within {within} s")
        await pilot.pause(0.02)
