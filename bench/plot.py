"""Draw bench/scaling.py results as an SVG (matplotlib is not a dependency, so by hand).

Two panels against the number of concurrent calls, both axes logarithmic: our own overhead p50
and p95 (with the 30 ms target), and the server's event-loop lag p99; headless as solid lines,
with the console as dashed ones.

    python bench/plot.py bench/results/scaling-*.json --out docs/scaling.svg
    python bench/plot.py bench/results/scaling-X.json --table    # the markdown table instead
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

W, H = 440, 300  # one panel
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 40, 50
COLOURS = {"p50": "#1f77b4", "p95": "#d62728", "p99": "#2ca02c"}
DASH = {"headless": "", "console": "6,4"}
TARGET_OVERHEAD_MS = 30.0


def load(paths: list[Path]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for path in paths:
        results.extend(json.loads(path.read_text()))
    return results


def series(results: list[dict[str, Any]], mode: str, metric: str,
           q: str) -> list[tuple[int, float]]:
    points = {r["calls"]: (r.get(metric) or {}).get(q) for r in results if r["mode"] == mode}
    return sorted((n, v) for n, v in points.items() if v is not None)


class Panel:
    def __init__(self, x0: int, title: str, calls: list[int], top_value: float) -> None:
        self.x0, self.title = x0, title
        self.lo, self.hi = math.log10(min(calls)), math.log10(max(calls)) or 1.0
        self.calls = calls
        self.decades = max(1, math.ceil(math.log10(max(top_value, 10.0))))  # y from 1 to 10^d

    def x(self, n: int) -> float:
        span = (self.hi - self.lo) or 1.0
        return self.x0 + LEFT + (math.log10(n) - self.lo) / span * (W - LEFT - RIGHT)

    def y(self, v: float) -> float:
        share = math.log10(max(v, 1.0)) / self.decades  # under 1 ms sits on the axis
        return TOP + (1 - share) * (H - TOP - BOTTOM)

    def frame(self) -> list[str]:
        parts = [f'<text x="{self.x0 + W / 2}" y="22" text-anchor="middle" '
                 f'font-weight="bold">{self.title}</text>']
        for tick in (10**i for i in range(self.decades + 1)):
            y = self.y(tick)
            parts.append(f'<line x1="{self.x0 + LEFT}" x2="{self.x0 + W - RIGHT}" y1="{y:.1f}" '
                         f'y2="{y:.1f}" stroke="#ddd"/>')
            parts.append(f'<text x="{self.x0 + LEFT - 6}" y="{y + 4:.1f}" '
                         f'text-anchor="end">{tick:g}</text>')
        for n in self.calls:
            parts.append(f'<text x="{self.x(n):.1f}" y="{H - BOTTOM + 18}" '
                         f'text-anchor="middle">{n}</text>')
        parts.append(f'<text x="{self.x0 + W / 2}" y="{H - 12}" text-anchor="middle">'
                     'concurrent calls</text>')
        return parts

    def target(self, value: float, label: str) -> str:
        y = self.y(value)
        return (f'<line x1="{self.x0 + LEFT}" x2="{self.x0 + W - RIGHT}" y1="{y:.1f}" '
                f'y2="{y:.1f}" stroke="#888" stroke-dasharray="2,3"/>'
                f'<text x="{self.x0 + LEFT + 4}" y="{y - 4:.1f}" fill="#555">{label}</text>')

    def line(self, points: list[tuple[int, float]], colour: str, dash: str) -> str:
        path = " ".join(f"{self.x(n):.1f},{self.y(v):.1f}" for n, v in points)
        dots = "".join(f'<circle cx="{self.x(n):.1f}" cy="{self.y(v):.1f}" r="3" '
                       f'fill="{colour}"/>' for n, v in points)
        return (f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
                f'stroke-dasharray="{dash}"/>{dots}')


def render(results: list[dict[str, Any]]) -> str:
    calls = sorted({r["calls"] for r in results})
    panels = [("own_overhead_ms", ("p50", "p95"), "own overhead (ms)"),
              ("event_loop_lag_ms", ("p99",), "server event-loop lag p99 (ms)")]
    body: list[str] = []
    for index, (metric, qs, title) in enumerate(panels):
        drawn = {(mode, q): series(results, mode, metric, q) for mode in DASH for q in qs}
        top = max((v for pts in drawn.values() for _, v in pts), default=1.0)
        panel = Panel(index * W, title, calls, top)
        body += panel.frame()
        if metric == "own_overhead_ms":
            body.append(panel.target(TARGET_OVERHEAD_MS, "target: p95 ≤ 30 ms"))
        body += [panel.line(pts, COLOURS[q], DASH[mode])
                 for (mode, q), pts in drawn.items() if pts]
    body.append(_legend())
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H + 30}" '
            f'font-family="sans-serif" font-size="12"><rect width="100%" height="100%" '
            f'fill="white"/>{"".join(body)}</svg>\n')


def _legend() -> str:
    items = [("p50", "", "p50"), ("p95", "", "p95"), ("p99", "", "p99"),
             ("p50", "", "headless (solid)"), ("p50", DASH["console"], "console (dashed)")]
    parts = []
    for i, (q, dash, label) in enumerate(items):
        x = 60 + i * 150
        parts.append(f'<line x1="{x}" x2="{x + 30}" y1="{H + 15}" y2="{H + 15}" '
                     f'stroke="{COLOURS[q] if i < 3 else "#555"}" stroke-width="2" '
                     f'stroke-dasharray="{dash}"/><text x="{x + 36}" y="{H + 19}">{label}</text>')
    return "".join(parts)


COLUMNS = (
    ("mode", lambda r: r["mode"]), ("N", lambda r: r["calls"]),
    ("v2v p50/p95 ms", lambda r: _pair(r["voice_to_voice_ms"])),
    ("own overhead p50/p95 ms", lambda r: _pair(r["own_overhead_ms"])),
    ("barge-in p50/p95 ms", lambda r: _pair(r["barge_in_ms"])),
    ("late frames at the caller", lambda r: f"{100 * (r['late_frames']['fraction'] or 0):.2f} %"),
    ("late frames sent", lambda r: (r.get("server_playout") or {}).get("late_frames", "-")),
    ("server loop lag p99 (max) ms", lambda r: _lag(r["event_loop_lag_ms"])),
    ("fakes / callers loop lag p99 ms", lambda r: f"{_p99(r, 'fakes')} / {_p99(r, 'callers')}"),
    ("server CPU s/call (cores)", lambda r: f"{r['server_cpu_s_per_call']} "
                                            f"({r['server_cpu_share']})"),
    ("RSS MB/call (peak)", lambda r: f"{r['rss_mb']['growth_per_call']} ({r['rss_mb']['peak']})"),
    ("failed calls", lambda r: r["caller_errors"]["calls_with_errors"]),
)


def _pair(spread: dict[str, Any]) -> str:
    return f"{spread['p50']:.0f} / {spread['p95']:.0f}" if spread.get("p50") is not None else "-"


def _p99(result: dict[str, Any], process: str) -> Any:
    return (result.get(f"{process}_loop_lag_ms") or {}).get("p99", "-")


def _lag(lag: dict[str, Any]) -> str:
    return f"{lag.get('p99')} ({lag.get('max')})" if lag else "-"


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(name for name, _ in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(cell(r)) for _, cell in COLUMNS) + " |" for r in results]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, nargs="+", help="bench/results/scaling-*.json")
    parser.add_argument("--out", type=Path, default=Path("docs/scaling.svg"))
    parser.add_argument("--table", action="store_true", help="print a markdown table instead")
    args = parser.parse_args()
    if args.table:
        print(table(load(args.results)))
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(load(args.results)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
