"""Suite-wide: the longest tests start first.

`make test` runs on three xdist workers, which start on the collection from the front (and, with
work-stealing, take over each other's leftovers). A test that waits on a minute of real-time
audio, collected late (tests/integration/test_turn_taking.py sorts near the end), started when
the others were nearly done and alone decided when the run ended. Marked `long`, it starts at
once, and the short ones fill in around it.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("long") is None)  # stable: order kept
