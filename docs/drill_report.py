"""The README's drill report screenshot: docs/drill-report.svg, rendered (UTC) from the report of
a real drill kept in docs/drill-report.json. tests/unit/test_drill_report.py keeps the two equal.

    .venv/bin/python docs/drill_report.py                                # re-render the SVG
    .venv/bin/python docs/drill_report.py --db data/calls.db --drill ID  # keep that drill first
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.drill.report import report_svg  # noqa: E402
from console.storage.drills import get_drill  # noqa: E402

REPORT = ROOT / "docs" / "drill-report.json"
SVG = ROOT / "docs" / "drill-report.svg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, help="the call store a drill was kept in")
    parser.add_argument("--drill", help="its id (voiceconsole drill --history)")
    args = parser.parse_args()
    if args.db and args.drill:
        report = get_drill(args.db, args.drill)
        if report is None:
            sys.exit(f"no drill {args.drill} in {args.db}")
        REPORT.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    os.environ["TZ"] = "UTC"
    time.tzset()
    SVG.write_text(report_svg(json.loads(REPORT.read_text())), encoding="utf-8")
    print(f"wrote {SVG.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
