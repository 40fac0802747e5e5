"""Which callbacks stall the event loop, for bench/probe_server.py `--stalls FILE` (bench-only;
nothing is added to product code).

Every callback the loop runs (asyncio.Handle._run, the one place a task step or a timer runs)
is timed; one longer than STALL_MS is a stall: every call's audio on this loop waited for it.
A sampler thread looks at the loop thread's stack while a callback is past STALL_MS, so a stall
is named by where it was (the outermost frames of our code, of Textual and of the SDKs), not by
the anonymous task-wakeup handle that ran it. The interpreter's switch interval is lowered to
0.2 ms while tracing, or the sampler would wait up to 5 ms for the GIL the stall holds; that
makes this a tool for finding stalls, never for timing a run.

    probe_server.py --stalls stalls.json   # written with the lag file, at SIGINT
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

STALL_MS = 2.0
SAMPLE_S = 0.0005
SWITCH_INTERVAL_S = 0.0002
OURS = ("/console/", "/textual/", "/rich/", "/aiohttp/", "/deepgram/", "/groq/", "/websockets/")
SHOWN_FRAMES = 6
LISTED = 25


class StallTrace:
    def __init__(self) -> None:
        self._started = 0.0  # perf_counter when the running callback began; 0: none runs
        self._where: str | None = None  # the running callback's place, once sampled
        self._loop_thread = threading.get_ident()
        self.stalls: list[tuple[float, str]] = []  # (ms, where)
        self._original = asyncio.events.Handle._run

    def install(self) -> None:
        trace, original = self, self._original

        def timed(handle: asyncio.Handle) -> None:
            trace._where, trace._started = None, time.perf_counter()
            try:
                original(handle)
            finally:
                took = time.perf_counter() - trace._started
                trace._started = 0.0
                if took * 1000 >= STALL_MS:
                    trace.stalls.append((took * 1000, trace._where or "(not sampled)"))

        asyncio.events.Handle._run = timed  # type: ignore[method-assign]
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        threading.Thread(target=self._sample, name="stall sampler", daemon=True).start()

    def reset(self) -> None:
        self.stalls = []

    def _sample(self) -> None:
        while True:
            time.sleep(SAMPLE_S)
            started = self._started
            if self._where is None and started and \
                    time.perf_counter() - started >= STALL_MS / 1000:
                frame = sys._current_frames().get(self._loop_thread)
                if frame is not None:
                    self._where = _place(frame)

    def summary(self) -> dict[str, Any]:
        """Stalls by place, the costliest (in total) first."""
        by_place: dict[str, list[float]] = collections.defaultdict(list)
        for took, where in self.stalls:
            by_place[where].append(took)
        places = sorted(by_place.items(), key=lambda item: -sum(item[1]))[:LISTED]
        return {"stall_ms": STALL_MS, "stalls": len(self.stalls),
                "by_place": [{"where": where, "count": len(times),
                              "total_ms": round(sum(times), 1), "max_ms": round(max(times), 1)}
                             for where, times in places]}

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.summary(), indent=1))


def _place(frame: FrameType | None) -> str:
    """The outermost SHOWN_FRAMES frames of our code and its libraries, outermost first."""
    names = []
    while frame is not None:
        code = frame.f_code
        if any(part in code.co_filename for part in OURS):
            names.append(f"{Path(code.co_filename).stem}.{code.co_name}")
        frame = frame.f_back
    return " > ".join(reversed(names[-SHOWN_FRAMES:]))
