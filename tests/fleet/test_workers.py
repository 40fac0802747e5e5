"""Media workers of one fleet on a real Redis, each a real MediaServer, called by simulated
Twilio callers that ring a worker's /voice and open the stream its TwiML names: where calls go,
how a worker drains, and a Redis outage under a live call."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from console.fleet import worker as worker_module
from console.fleet.connection import connect
from console.fleet.operations import drain
from console.fleet.registry import WorkerBeat, live_workers
from console.fleet.worker import FleetWorker, join_fleet
from console.simulate.caller import CallerOptions, SimulatedCaller, Utterance
from tests.integration.conftest_telephony import TOKEN, Telephony, signature_for, start_telephony

EVERY_S = 0.2
FRONT = "https://front.example.test"


@dataclass
class Worker:
    telephony: Telephony
    fleet: FleetWorker
    drained: asyncio.Event  # what the serve command waits on to exit

    @property
    def voice_url(self) -> str:
        return self.telephony.server.url + "/voice"

    def calls(self) -> list[str]:
        return [handler.start.call_sid for handler in self.telephony.handlers]

    def seen(self, name: str) -> WorkerBeat | None:
        """Worker `name` as this one's last beat saw it."""
        view = self.fleet.heartbeat.view
        return next((w for w in view.workers if w.name == name), None) if view else None

    async def beats_until(self, condition: Callable[[], object], within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while not condition():
                await self.fleet.heartbeat.next_beat()


@pytest.fixture
async def workers(redis_server) -> AsyncIterator[Callable[..., Awaitable[Worker]]]:
    started: list[Worker] = []

    async def start(name: str, **overrides: Any) -> Worker:
        telephony = await start_telephony(
            twilio_auth_token=TOKEN, fleet_url=redis_server.url, fleet_name=name,
            fleet_heartbeat_s=EVERY_S, **overrides)
        drained = asyncio.Event()
        fleet = join_fleet(telephony.settings, telephony.server, telephony.server.address,
                           on_drained=drained.set)
        await fleet.start()
        started.append(Worker(telephony, fleet, drained))
        return started[-1]

    yield start
    for worker in started:
        await worker.fleet.stop()
        await worker.telephony.server.stop()


def caller(via: Worker, *, hold: Callable[[], Awaitable[object]] | None = None,
           **options: Any) -> SimulatedCaller:
    """A caller who rings `via`'s /voice, streams where it says, presses 1 and waits for the
    answer (the worker's handler replies to a key with audio), then holds the line on `hold`."""
    settings: dict[str, Any] = dict(
        url=via.telephony.server.media_url, auth_token=TOKEN, voice_url=via.voice_url,
        fast=True, wait_for_greeting=False, reply_quiet_ms=150,
        utterances=[Utterance(b"", keys="1")], hold=hold)
    return SimulatedCaller(CallerOptions(**(settings | options)))


def answered(call: SimulatedCaller) -> bool:
    """The caller got through and heard the worker answer its key."""
    return call.log.connected and bool(call.log.turn_starts) and not call.log.errors


async def test_voice_on_a_fuller_worker_sends_the_call_to_another_which_answers_it(
        workers: Callable[..., Awaitable[Worker]]) -> None:
    a, b = await workers("a"), await workers("b")
    await a.beats_until(lambda: a.seen("b") is not None)
    hang_up = asyncio.Event()
    first = caller(a, hold=hang_up.wait)
    on_the_line = asyncio.create_task(first.run(), name="first-call")
    await a.telephony.until(lambda: a.calls() == [first.options.call_sid])  # a tie: a by name

    second = caller(a)
    await second.run()
    assert b.calls() == [second.options.call_sid]  # a was fuller: b took it
    assert a.calls() == [first.options.call_sid]
    assert answered(second)
    assert b.telephony.handler_for(second.options.call_sid).dtmf == ["1"]
    hang_up.set()
    await on_the_line
    assert answered(first)


async def test_a_draining_worker_takes_no_new_call_finishes_its_own_then_leaves(
        workers: Callable[..., Awaitable[Worker]], redis_server,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "DRAIN_GRACE_S", 0.2)  # fewer beats to wait through
    a, b = await workers("a"), await workers("b")
    await b.beats_until(lambda: b.seen("a") is not None)
    hang_up_a, hang_up_b = asyncio.Event(), asyncio.Event()
    on_a = caller(a, hold=hang_up_a.wait)
    call_on_a = asyncio.create_task(on_a.run(), name="call-on-a")
    await b.beats_until(lambda: (seen := b.seen("a")) is not None and seen.load == 1)
    on_b = caller(b, hold=hang_up_b.wait)
    call_on_b = asyncio.create_task(on_b.run(), name="call-on-b")
    await a.beats_until(lambda: (seen := a.seen("b")) is not None and seen.load == 1)
    # One call each: a tie, which a would win by name, were it not draining.

    said: list[WorkerBeat] = []
    draining = asyncio.create_task(drain(SecretStr(redis_server.url), "a", EVERY_S, said.append),
                                   name="serve --drain a")
    await b.beats_until(lambda: (seen := b.seen("a")) is not None and seen.draining)
    assert a.fleet.draining and a.fleet.health()["draining"] is True
    via_a, via_b = caller(a), caller(b)
    await via_a.run()
    await via_b.run()
    assert answered(via_a) and answered(via_b)
    assert a.calls() == [on_a.options.call_sid]  # no new call for a, not even its own
    assert b.calls() == [on_b.options.call_sid, via_a.options.call_sid, via_b.options.call_sid]

    for _ in range(6):  # past the drain's grace (0.2 s + two beats): only the live call holds it
        await a.fleet.heartbeat.next_beat()
    assert not a.drained.is_set() and not draining.done()
    hang_up_a.set()
    await call_on_a
    assert answered(on_a)
    async with asyncio.timeout(5):
        await a.drained.wait()
    await a.fleet.stop()  # what `serve` does once drained: it shuts down and exits
    async with asyncio.timeout(5):
        assert await draining is None  # `serve --drain a` saw it leave
    assert said[0].load == 1
    hang_up_b.set()
    await call_on_b


async def test_a_redis_outage_keeps_the_live_call_talking_and_the_worker_beats_again(
        workers: Callable[..., Awaitable[Worker]], redis_server) -> None:
    a = await workers("a")
    newcomer: list[SimulatedCaller] = []

    async def ride_out_an_outage() -> None:
        handler = a.telephony.handlers[0]
        redis_server.stop()
        await a.beats_until(lambda: a.fleet.heartbeat.outage_since is not None)
        assert str(a.fleet.health()["redis"]).startswith("unreachable")
        heard = len(handler.media)
        await handler.reply("through-the-outage")  # the agent speaks; the caller plays it
        await a.telephony.until(lambda: "through-the-outage" in handler.marks)
        await a.telephony.until(lambda: len(handler.media) >= heard + 25)  # and it speaks
        newcomer.append(caller(a))
        await newcomer[0].run()  # a new call in the outage stays here
        redis_server.start()  # an empty Redis: nothing was saved
        await a.beats_until(lambda: a.fleet.heartbeat.outage_since is None)

    talker = caller(a, fast=False, hold=ride_out_an_outage)
    await talker.run()
    assert answered(talker) and talker.log.ended_by == "caller"  # not cut off
    assert a.telephony.handler_for(talker.options.call_sid).stops == ["stream-stopped"]
    assert answered(newcomer[0]) and newcomer[0].options.call_sid in a.calls()
    client = connect(SecretStr(redis_server.url))
    try:
        assert [w.name for w in await live_workers(client)] == ["a"]  # beating again
    finally:
        await client.aclose()
    assert a.fleet.health()["redis"] == "ok"


async def test_the_stream_ended_callback_points_at_the_fleets_front(
        workers: Callable[..., Awaitable[Worker]]) -> None:
    a = await workers("a", fleet_front_url=FRONT)
    call = {"CallSid": "CA" + "3" * 32, "From": "+15550001111", "To": "+15550002222"}
    async with aiohttp.ClientSession() as session:
        async with session.post(a.voice_url, data=call, headers={
                "X-Twilio-Signature": signature_for(a.voice_url, call)}) as reply:
            twiml = ElementTree.fromstring(await reply.text())
        connect_verb = twiml.find("./Connect")
        assert connect_verb is not None and connect_verb.get("action") == FRONT + "/stream-ended"

        # Twilio asks the front, which hands the request to a worker: signed over the front.
        ended = {"CallSid": call["CallSid"]}
        local = a.telephony.server.url + "/stream-ended"
        for signed_over, status in ((FRONT + "/stream-ended", 200),
                                    ("https://elsewhere.example.test/stream-ended", 403)):
            async with session.post(local, data=ended, headers={
                    "X-Twilio-Signature": signature_for(signed_over, ended)}) as reply:
                assert reply.status == status, signed_over
