"""Webhook bench: how long from a call's summary to the CRM having it, on loopback.

    python bench/webhook.py [--calls 200] [--rate 10] [--json-out PATH]

JSON goes to stdout and to --json-out (default bench/results/webhook-<time>.json).

The real store writer (with the outbox hook), the real delivery worker and a loopback receiver
(tests/fakes/webhook_receiver.py: it verifies each signature, answers 200) on one event loop, on a
fresh call store. Each call is stored as a finished call leaves it (start, four turns, end, a turn's
metrics), then summarized; latency is CallSummarized.at -> the receiver has the request (same
clock). Two runs:
- `paced`: calls end at --rate a second (a busy line: 150 calls of 3 minutes end ~1 a second);
- `burst`: all --calls summarized at once (a shift's end, or the outbox draining after an
  outage), which measures the queue: deliveries go out BATCH at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import save_results, spread  # noqa: I001 - bench/ is on sys.path when run

from console import events as ev
from console.config import load_settings
from console.handoff.worker import BATCH, WebhookWorker
from console.storage.outbox import Outbox, enqueue
from console.storage.writer import StoreWriter
from tests.fakes.webhook_receiver import WebhookReceiver

SECRET = "bench-secret"


def finished_call(sid: str) -> list[ev.CallEvent]:
    now = time.time()
    turns = [ev.TurnCompleted(sid, role, text, now - 8 + i, now - 7 + i)
             for i, (role, text) in enumerate([
                 ("agent", "Thanks for calling Maple Street Dental, how can I help?"),
                 ("caller", "I would like to book a cleaning next Tuesday."),
                 ("agent", "Tuesday at 3 pm is free. Shall I book it?"),
                 ("caller", "Yes please, thank you.")])]
    return [ev.CallStarted(sid, "MZ" + sid, "+15550001111", "+15550000000", "scheduling"),
            *turns, ev.TurnMeasured(sid, 1, {"stt": 180.0, "llm_first_token": 210.0}),
            ev.CallEnded(sid, "caller-hung-up")]


def summary(sid: str) -> ev.CallSummarized:
    return ev.CallSummarized(sid, "Booked a cleaning for Tuesday 3 pm.", "booked",
                             ("send a reminder",), (("requested_time", "Tue 3 pm"),))


async def run(calls: int, rate: float | None, folder: Path) -> dict[str, Any]:
    async with WebhookReceiver(SECRET) as receiver:
        bus, writer, worker = _stack(folder / "calls.db", receiver.url)
        summarized: dict[str, float] = {}
        started = time.perf_counter()
        for n in range(calls):
            sid = f"CA{n:032d}"
            for event in finished_call(sid):
                bus.publish(event)
            event = summary(sid)
            summarized[sid] = event.at
            bus.publish(event)
            if rate:
                await asyncio.sleep(1 / rate)
        await receiver.wait_for(lambda: len(receiver.accepted) >= calls, timeout=120)
        elapsed = time.perf_counter() - started
        await worker.stop()
        await writer.close()
    # When the receiver had each one (Delivery.at: its body read and its signature checked).
    received = {r.headers["X-Voiceconsole-Idempotency-Key"].split(":")[0]: r.at
                for r in reversed(receiver.accepted)}  # the first, if one came twice
    latencies = [(received[sid] - at) * 1000 for sid, at in summarized.items()]
    return {"calls": calls, "rate_per_s": rate, "seconds": round(elapsed, 2),
            "latency_ms": spread(latencies), "max_ms": round(max(latencies), 2),
            "duplicates": len(receiver.accepted) - len(received),
            "bad_signatures": sum(not r.signature_ok for r in receiver.requests)}


def _stack(db: Path, url: str) -> tuple[ev.EventBus, StoreWriter, WebhookWorker]:
    settings = load_settings(_env_file=None, data_db=db, webhook_url=url,
                             webhook_secret=SECRET)
    bus = ev.EventBus()
    writer = StoreWriter(db, also_write=enqueue)
    worker = WebhookWorker(settings, Outbox(db), after_commit=writer.flush)
    writer.start()
    worker.start()
    bus.subscribe(writer)
    bus.subscribe(worker.on_event)
    return bus, writer, worker


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="calls ending per second")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {"bench": "webhook", "batch": BATCH}
    for name, rate in (("paced", args.rate), ("burst", None)):
        with tempfile.TemporaryDirectory() as folder:
            results[name] = await run(args.calls, rate, Path(folder))
    print(json.dumps(results, indent=2))
    print(f"saved to {save_results('webhook', results, args.json_out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
