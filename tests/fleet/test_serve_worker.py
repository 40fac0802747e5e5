"""`voiceconsole serve` as a fleet worker, in a process of its own (fake Deepgram and Groq, a real
Redis): drained with `voiceconsole serve --drain NAME`, it takes no new call, finishes its live
one, and exits 0; the drain command waits for that and says so."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from console import events as ev
from console.cli import main
from console.fleet import keys, wire
from console.fleet.connection import connect
from console.fleet.registry import WorkerBeat, live_workers
from console.simulate.caller import CallerOptions, SimulatedCaller
from console.telephony.server import BUSY_LINE
from tests.fakes.deepgram_fake import FakeDeepgram
from tests.fakes.groq_fake import FakeGroq

pytestmark = pytest.mark.timeout(60)

HEARTBEAT_S = "0.2"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _worker_env(tmp_path: Path, redis_url: str, port: int, deepgram: FakeDeepgram,
                groq: FakeGroq) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("TWILIO_", "PUBLIC_", "NGROK_", "VOICECONSOLE_"))}
    return {**keep, "DEEPGRAM_API_KEY": deepgram.api_key,
            "VOICECONSOLE_DEEPGRAM_BASE_URL": deepgram.base_url,
            "GROQ_API_KEY": groq.api_key, "VOICECONSOLE_GROQ_BASE_URL": groq.base_url,
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "VOICECONSOLE_DATA_DB": str(tmp_path / "data" / "calls.db"),
            "VOICECONSOLE_SERVER_HOST": "127.0.0.1", "VOICECONSOLE_SERVER_PORT": str(port),
            "VOICECONSOLE_FLEET_URL": redis_url, "VOICECONSOLE_FLEET_NAME": "w1",
            "VOICECONSOLE_FLEET_HEARTBEAT_S": HEARTBEAT_S}


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, redis_url: str
                  ) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """`voiceconsole serve` as worker w1 of the fleet, in a process of its own, on the fakes;
    yielded once it has beaten (with its port), killed on the way out if it is still up."""
    async with FakeDeepgram(ms_per_char=5) as deepgram, FakeGroq() as groq:
        port = _free_port()
        with (tmp_path / "serve.log").open("wb") as log:
            worker = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "console.cli", "serve", cwd=tmp_path, stdout=log,
                stderr=log, env=_worker_env(tmp_path, redis_url, port, deepgram, groq))
        try:
            await until_beat(redis_url, "the worker's first beat", lambda w: True)
            yield worker, port
        finally:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()


async def until_beat(redis_url: str, what: str, condition: Callable[[WorkerBeat], bool],
                     within: float = 20.0) -> None:
    """Poll Redis (another process) until worker w1's beat satisfies `condition`."""
    client = connect(SecretStr(redis_url))
    deadline = time.monotonic() + within
    try:
        while not any(w.name == "w1" and condition(w) for w in await live_workers(client)):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)
    finally:
        await client.aclose()


async def test_serve_drain_lets_the_worker_finish_its_call_then_exit(
        redis_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    async with serving(tmp_path, redis_server.url) as (worker, port):
        hang_up = asyncio.Event()
        call = asyncio.create_task(_quiet_call(port, hang_up.wait), name="live-call")
        await until_beat(redis_server.url, "the call to count", lambda w: w.load == 1)

        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("VOICECONSOLE_FLEET_URL", redis_server.url)
        monkeypatch.setenv("VOICECONSOLE_FLEET_HEARTBEAT_S", HEARTBEAT_S)
        drain = asyncio.create_task(asyncio.to_thread(main, ["serve", "--drain", "w1"]),
                                    name="serve --drain w1")
        await until_beat(redis_server.url, "the worker to drain", lambda w: w.draining)
        assert BUSY_LINE in await _ring(port)  # its only worker is draining: busy
        assert worker.returncode is None and not drain.done()  # its call holds it

        hang_up.set()
        await asyncio.wait_for(call, 10)
        assert await asyncio.wait_for(worker.wait(), 20) == 0
        assert await asyncio.wait_for(drain, 10) == 0
    said = capsys.readouterr().out
    assert "w1: draining, 1 call(s) left" in said
    assert "w1: drained and gone from the fleet" in said
    assert "has drained: every call ended" in (tmp_path / "serve.log").read_text()


async def _quiet_call(port: int, hold: Callable[[], Awaitable[object]]) -> None:
    options = CallerOptions(url=f"ws://127.0.0.1:{port}/media", fast=True,
                            wait_for_greeting=False, hold=hold)
    await SimulatedCaller(options).run()


async def _ring(port: int) -> str:
    """A new call at the worker's own /voice (unsigned: this worker has no Twilio token)."""
    form = {"CallSid": "CA" + "4" * 32, "From": "+15550001111", "To": "+15550002222"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/voice", data=form) as reply:
            return await reply.text()


async def test_a_worker_stopped_mid_call_publishes_the_call_ending_and_its_summary(
        redis_server, tmp_path: Path) -> None:
    """Ctrl-C on a worker with a live call: the call ends ("server-shutdown") and is summarized
    as in one process, and both reach the fleet's stream, because the publisher stops only
    after the calls (not with the other attachments, before them)."""
    async with serving(tmp_path, redis_server.url) as (worker, port):
        hang_up = asyncio.Event()
        call = asyncio.create_task(_quiet_call(port, hang_up.wait), name="live-call")
        try:
            await until_beat(redis_server.url, "the call to count", lambda w: w.load == 1)
            worker.send_signal(signal.SIGINT)
            assert await asyncio.wait_for(worker.wait(), 30) == 0
        finally:
            hang_up.set()
            await asyncio.wait_for(call, 10)
    kinds = await _stream_kinds(redis_server.url)
    assert kinds[0] == "CallStarted"
    assert ("CallEnded", "server-shutdown") in kinds
    assert "CallSummarized" in kinds


async def _stream_kinds(redis_url: str) -> list[object]:
    """Each event on the fleet's stream: its kind, or (CallEnded, reason)."""
    client = connect(SecretStr(redis_url))
    try:
        entries = await client.xrange(keys.EVENTS)
    finally:
        await client.aclose()
    found: list[object] = []
    for _, fields in entries:
        entry = wire.decode(fields)
        assert entry is not None
        event = entry.event
        found.append((event.kind, event.reason) if isinstance(event, ev.CallEnded) else event.kind)
    return found
