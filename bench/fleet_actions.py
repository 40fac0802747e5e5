"""An operator action's round trip for bench/fleet.py: from a fleet console through Redis to the
call's worker and back, and the same action in one process."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

from common import spread
from lean_fakes import LeanDeepgram
from pipeline import reply_for
from pydantic import SecretStr

from console import events as ev
from console.config import load_settings
from tests.fakes.groq_fake import FakeGroq


async def fleet_actions(redis_url: str, count: int, workdir: Path) -> dict[str, Any]:
    """Whispers from a fleet console to live calls, one at a time: ms from the request to the
    worker's OperatorActed back on the fleet's stream."""
    from console.fleet.backend import FleetBackend

    settings = load_settings(_env_file=None, fleet_url=SecretStr(redis_url),
                             data_db=workdir / "console" / "calls.db")
    backend = FleetBackend(settings, console="bench")
    await backend.start(lambda step, status: None)
    timings: list[float] = []
    failed = 0
    choose = random.Random(0)
    try:
        while len(timings) + failed < count:
            live = backend.calls.live()
            if not live:
                await asyncio.sleep(0.1)  # no call yet (they ring over the ramp): look again
                continue
            started = time.perf_counter()
            try:
                await backend.control.whisper(choose.choice(live), "bench: keep it short",
                                              actor="bench")
            except (LookupError, RuntimeError):  # the call ended meanwhile
                failed += 1
                continue
            timings.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.2)  # one action at a time, as an operator acts
    finally:
        await backend.stop()
    return {**spread(timings), "failed": failed}


async def one_process_actions(count: int, workdir: Path) -> dict[str, Any]:
    """The same whisper in one process: a Runtime here with one held call; ms from the request
    to its OperatorActed on the bus."""
    from console.runtime import Runtime
    from console.simulate.caller import CallerOptions, SimulatedCaller

    async with LeanDeepgram(first_byte_ms=80, ms_per_char=60) as deepgram, \
            FakeGroq(reply=reply_for, first_token_ms=150, tokens_per_s=200) as groq:
        settings = load_settings(
            _env_file=None, server_port=0, data_db=workdir / "one" / "calls.db",
            deepgram_api_key=deepgram.api_key, deepgram_base_url=deepgram.base_url,
            groq_api_key=groq.api_key, groq_base_url=groq.base_url)
        runtime = Runtime(settings)
        acted: list[float] = []
        runtime.bus.subscribe(lambda e: acted.append(time.perf_counter())
                              if isinstance(e, ev.OperatorActed) else None)
        await runtime.start()
        hang_up = asyncio.Event()
        caller = SimulatedCaller(CallerOptions(url=runtime.server.media_url, fast=True,
                                               wait_for_greeting=False, hold=hang_up.wait))
        call = asyncio.create_task(caller.run(), name="one-process call")
        try:
            timings = await _time_whispers(runtime, acted, count)
        finally:
            hang_up.set()
            await call
            await runtime.stop()
    return spread(timings)


async def _time_whispers(runtime: Any, acted: list[float], count: int) -> list[float]:
    async with asyncio.timeout(20):
        while not runtime.control.live_calls():  # noqa: ASYNC110 - a socket's start
            await asyncio.sleep(0.05)  # the call is starting
    sid = runtime.control.live_calls()[0]
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        await runtime.control.whisper(sid, "bench: keep it short", actor="bench")
        timings.append((acted[-1] - started) * 1000)
        await asyncio.sleep(0.05)
    return timings


def action_report(fleet: dict[str, Any], one: dict[str, Any]) -> dict[str, Any]:
    added = {q: round(fleet[q] - one[q], 2) if fleet.get(q) is not None else None
             for q in ("p50", "p95")}
    return {"fleet_ms": fleet, "one_process_ms": one, "added_by_redis_ms": added}


