"""A snapshot of the drill report as `voiceconsole drill` prints it (syrupy), and the README's
screenshot (docs/drill-report.svg, a real drill's report kept in docs/drill-report.json) kept
equal to what the renderer makes of that report today.

Update after an intended change with: pytest tests/unit/test_drill_report.py --snapshot-update
and: python docs/drill_report.py
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.drill.report import report_svg, report_text
from tests.drill_sample import sample_report

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The report shows local time: UTC here, on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_printed_report_shows_each_reaction_its_points_and_why_each_miss_was_one(
        snapshot, utc) -> None:
    text = report_text(sample_report())
    assert "Score 77/100 · 1 miss" in text
    assert "Angry caller, billing, take-over: missed, after 52.0 s (limit 45 s)." in text
    assert text == snapshot


def test_the_readme_screenshot_is_the_real_drill_report_as_rendered_now(utc) -> None:
    report = json.loads((DOCS / "drill-report.json").read_text(encoding="utf-8"))
    assert (DOCS / "drill-report.svg").read_text(encoding="utf-8") == report_svg(report)
