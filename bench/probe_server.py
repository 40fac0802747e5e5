"""The server side of the scaling and soak benches: the `serve` runtime (or the operator console
running headless around it) plus an event-loop lag probe. Nothing is added to product code.

    python bench/probe_server.py --lag-file lag.json [--console] [--risk on|off]

Prints `voiceconsole serving: media ws://.../media` once listening (what common.ServerProcess
looks for). SIGUSR1 restarts the lag samples (the bench sends it just before the first call, so
start-up does not count); SIGINT writes the lag percentiles to --lag-file, then shuts down in
the runtime's own order.

Lag probe: `sleep(0.01)` in a loop, recording how much longer than 10 ms each sleep took. On an
idle loop that is well under 1 ms; anything that hogs the loop (a slow callback, a CPU-bound
step) shows up as oversleep here and as late audio frames on every call.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import sys
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import risk_meter  # bench/, beside this file (sys.path[0] when run as a script)
from stall_trace import StallTrace

PROBE_PERIOD_S = 0.010
SPIKE_MS = 20.0  # oversleeps this long are listed with when they happened
MAX_SPIKES = 20
STARTUP_POLL_S = 0.05  # console mode: how often we look whether the runtime has started
STARTUP_LIMIT_S = 60.0


class LagProbe:
    """Oversleep of a 10 ms sleep, in milliseconds, for as long as the loop runs."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.spikes: list[tuple[float, float]] = []  # (seconds since start, lag ms)
        self.since = time.monotonic()

    def reset(self) -> None:
        self.samples, self.spikes = [], []
        self.since = time.monotonic()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(PROBE_PERIOD_S)
            lag = (loop.time() - before - PROBE_PERIOD_S) * 1000
            self.samples.append(lag)
            if lag >= SPIKE_MS and len(self.spikes) < MAX_SPIKES:
                # loop.time() is time.monotonic() on asyncio's own loops
                self.spikes.append((round(before - self.since, 2), round(lag, 1)))

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.samples)

        def at(q: float) -> float | None:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 2)

        return {"n": len(ordered), "p50": at(50), "p95": at(95), "p99": at(99),
                "max": round(ordered[-1], 2) if ordered else None,
                "seconds": round(time.monotonic() - self.since, 1),
                "spikes_at_s_ms": self.spikes}


async def _serve_headless(stop: asyncio.Event) -> None:
    from console.config import load_settings
    from console.runtime import Runtime

    runtime = Runtime(load_settings())
    await runtime.start(lambda step, status: None)
    gc.freeze()  # as `voiceconsole serve` does once started (see console/commands/serve.py)
    _announce(runtime)
    try:
        await stop.wait()
    finally:
        await runtime.stop()


async def _serve_console(stop: asyncio.Event) -> None:
    """The console's real app and runtime on one loop, rendering headless (no terminal)."""
    from console.config import load_settings
    from console.runtime import build_backend
    from console.tui.app import VoiceConsoleApp

    app = VoiceConsoleApp(build_backend(load_settings()))
    harness: AbstractAsyncContextManager[Any] = app.run_test(headless=True, size=(160, 48))
    async with harness:
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while not app.started:  # the app starts its runtime in a worker; no event to await
            if time.monotonic() > deadline:
                raise RuntimeError("the console's runtime did not start")
            await asyncio.sleep(STARTUP_POLL_S)
        _announce(app.backend)
        await stop.wait()
    # Leaving run_test unmounts the app, which stops the runtime in its shutdown order.


def _announce(runtime: Any) -> None:
    # sys.__stdout__: while the console app runs, Textual captures sys.stdout for itself.
    out = sys.__stdout__
    assert out is not None
    out.write(f"voiceconsole serving: media {runtime.server.media_url}\n")
    out.flush()


async def main(lag_file: Path, console: bool, risk: str | None = None,
               stalls_file: Path | None = None) -> int:
    probe, stop = LagProbe(), asyncio.Event()
    if risk is not None:  # bench/risk_cost.py: the risk board metered, or switched off
        risk_meter.install(risk)
    stalls = StallTrace() if stalls_file is not None else None
    if stalls is not None:
        stalls.install()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: _restart(probe, stalls))
    probing = asyncio.create_task(probe.run(), name="lag-probe")
    waiter = asyncio.create_task(_write_on_stop(stop, probe, lag_file, stalls, stalls_file),
                                 name="lag-writer")
    try:
        await (_serve_console(stop) if console else _serve_headless(stop))
    finally:
        probing.cancel()
        await waiter
    return 0


def _restart(probe: LagProbe, stalls: StallTrace | None) -> None:
    """SIGUSR1, just before the first call: start-up is not measured."""
    probe.reset()
    risk_meter.reset()
    if stalls is not None:
        stalls.reset()


async def _write_on_stop(stop: asyncio.Event, probe: LagProbe, lag_file: Path,
                         stalls: StallTrace | None, stalls_file: Path | None) -> None:
    """Percentiles are taken the moment SIGINT arrives: shutdown itself is not measured."""
    await stop.wait()
    summary = {**probe.summary(), "risk": risk_meter.summary()}
    await asyncio.to_thread(lag_file.write_text, json.dumps(summary))
    if stalls is not None and stalls_file is not None:
        await asyncio.to_thread(stalls.write, stalls_file)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lag-file", type=Path, required=True)
    parser.add_argument("--console", action="store_true", help="run the Textual console too")
    parser.add_argument("--risk", choices=("on", "off", "base", "bare"),
                        help="console: meter the risk board's CPU (on) or switch it off; "
                             "base: code from before it (the console's drawing is metered)")
    parser.add_argument("--stalls", type=Path,
                        help="also name the callbacks that stall the loop (bench/stall_trace.py; "
                             "it slows the run: for finding stalls, not for timing)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.lag_file, args.console, args.risk, args.stalls)))
