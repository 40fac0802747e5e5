"""Writes docs/drill-report.svg, the drill report the README shows: the four built-in scenarios
with an operator's acts at known times (tests/drill_sample.py), scored by the real scoring and
rendered by the report `voiceconsole drill` prints. tests/unit/test_drill_report.py keeps it
current.

    .venv/bin/python docs/drill_report.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.drill.report import report_svg  # noqa: E402
from tests.drill_sample import sample_report  # noqa: E402

if __name__ == "__main__":
    os.environ["TZ"] = "UTC"
    time.tzset()
    (ROOT / "docs" / "drill-report.svg").write_text(report_svg(sample_report()), encoding="utf-8")
    print("wrote docs/drill-report.svg")
