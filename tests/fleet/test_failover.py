"""Failover (issue 17): two `voiceconsole serve` workers in processes of their own (fake
Deepgram and Groq, a real Redis). The worker holding a live call is killed -9 mid-conversation;
the simulated caller does what Twilio does when a <Connect><Stream> ends (asks the <Connect
action> what next and opens the stream its TwiML names), and the other worker takes the call
over with its conversation.

The fleet's front (VOICECONSOLE_FLEET_FRONT_URL, a load balancer in production) is here simply
the surviving worker's own URL: reaching a live worker is the load balancer's job and not under
test; what a live worker answers, and what follows, is."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from twilio.request_validator import SIGNATURE_HEADER, RequestValidator

from console import events as ev
from console.calls import triage
from console.config.groups import FleetSettings
from console.fleet import keys, wire
from console.fleet.carried import CARRIED_TTL_S, RECOVERY_LINE, CarriedConversation
from console.fleet.failover import Failover
from console.fleet.publisher import FleetPublisher
from console.fleet.recorder import FleetRecorder
from console.fleet.registry import live_workers
from console.fleet.worker import FleetWorker, join_fleet
from console.simulate.caller import CallerOptions, SimulatedCaller
from console.storage.writer import StoreWriter
from console.telephony import twilio_protocol as tp
from tests.fakes.deepgram_fake import FakeDeepgram
from tests.fakes.groq_fake import FakeGroq
from tests.fleet.conftest import RedisServer
from tests.fleet.test_recorder import recording, stored_call
from tests.fleet.test_serve_worker import _free_port, _worker_env
from tests.fleet.test_workers import FRONT
from tests.integration.conftest import (
    EMERGENCY,
    PUBLIC_URL,
    spoken,
    start_cloud_stack,
    stop_cloud_stack,
)
from tests.integration.conftest_telephony import TOKEN, Telephony, signature_for, start_telephony

pytestmark = pytest.mark.timeout(90)

FIRST, SECOND, THIRD = "I would like to book a cleaning", "next Tuesday if you can", "at noon"
REPLY = "Sure, let me check that for you."
HEARD_AGAIN_WITHIN_S = 3.0  # issue 17's Done-when
DEADLINE_S = 30.0


@contextlib.asynccontextmanager
async def serving(name: str, port: int, front_port: int, tmp_path: Path, redis_url: str,
                  deepgram: FakeDeepgram, groq: FakeGroq
                  ) -> AsyncIterator[asyncio.subprocess.Process]:
    """`voiceconsole serve` as fleet worker `name`, in a folder of its own."""
    folder = tmp_path / name
    folder.mkdir()
    env = _worker_env(folder, redis_url, port, deepgram, groq) | {
        "VOICECONSOLE_FLEET_NAME": name,
        "VOICECONSOLE_FLEET_FRONT_URL": f"http://127.0.0.1:{front_port}"}
    with (folder / "serve.log").open("wb") as log:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "console.cli", "serve", cwd=folder, stdout=log, stderr=log,
            env=env)
    try:
        yield worker
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()


async def poll(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    """Poll another process's state (Redis) until `check()` is true, within DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_worker_killed_mid_call_the_other_takes_the_call_over_with_its_history(
        redis_server: RedisServer, tmp_path: Path) -> None:
    redis = aioredis.Redis.from_url(redis_server.url)
    p1, p2 = _free_port(), _free_port()
    async with FakeDeepgram(script=[FIRST, SECOND, THIRD], ms_per_char=5) as deepgram, \
            FakeGroq(reply=REPLY) as groq, \
            serving("w1", p1, p2, tmp_path, redis_server.url, deepgram, groq) as w1, \
            serving("w2", p2, p2, tmp_path, redis_server.url, deepgram, groq):

        async def both_beating() -> bool:
            return {w.name for w in await live_workers(redis)} == {"w1", "w2"}

        await poll("both workers' beats", both_beating)
        caller = SimulatedCaller(CallerOptions(
            url=f"ws://127.0.0.1:{p1}/media", voice_url=f"http://127.0.0.1:{p1}/voice",
            follow_action=True, utterances=[spoken(), spoken(), spoken()],
            reply_quiet_ms=200, max_call_s=40))
        sid = caller.options.call_sid
        call = asyncio.create_task(caller.run(), name="call-to-move")

        async def second_turn_carried() -> bool:
            text = await redis.get(keys.conversation(sid))
            turns = [tuple(t) for t in json.loads(text)["turns"]] if text else []
            return ("caller", SECOND) in turns

        # Killed while the agent answers the caller's second turn: the caller waits in silence.
        await poll("the caller's second turn in the carried conversation", second_turn_carried)
        assert await redis.hget(keys.call(sid), "worker") == b"w1"  # a tie goes to w1 by name
        requests_before = len(groq.requests)
        w1.send_signal(signal.SIGKILL)
        killed_at = asyncio.get_running_loop().time()
        assert await w1.wait() == -signal.SIGKILL
        summary = await asyncio.wait_for(call, 60)

        async def call_ended() -> bool:  # w2's CallEnded reached Redis: the call really ended
            return not await redis.exists(keys.conversation(sid))

        await poll("w2 to end the call the caller hung up", call_ended)

    # The caller heard the agent again within 3 s, on the new stream (not frames of the old
    # one still in flight when it died).
    assert len(caller.log.restreams) == 1, summary
    restreamed = caller.log.restreams[0]
    heard = [t for t in caller.log.received_at if t >= restreamed]
    assert heard, f"the caller never heard the agent again: {summary}"
    to_agent_s = caller.started_at + heard[0] - killed_at
    print(f"failover: new stream {caller.started_at + restreamed - killed_at:.3f} s and agent "
          f"audio {to_agent_s:.3f} s after the kill")
    assert to_agent_s < HEARD_AGAIN_WITHIN_S

    # The resumed LLM request carries the conversation from the dead worker.
    resumed = groq.requests[requests_before:]
    assert resumed, "w2 never asked the LLM"
    said = [(m["role"], m["content"]) for m in resumed[-1].messages]
    earlier = said.index(("user", FIRST))  # after the system prompt and the greeting
    assert said[earlier:earlier + 3] == [("user", FIRST), ("assistant", REPLY), ("user", SECOND)]
    assert said[-1] == ("user", THIRD), said  # said to w2, after the recovery line

    # One record for the call, continuous across both workers.
    entries = [wire.decode(fields) for _, fields in await redis.xrange(keys.EVENTS) or []
               if fields is not None]
    turns_by = {(e.worker, e.event.kind) for e in entries if e and e.event.call_sid == sid}
    assert {("w1", "TurnCompleted"), ("w2", "TurnCompleted")} <= turns_by
    writer = StoreWriter(tmp_path / "calls.db", mark_abandoned_on_start=False)
    writer.start()
    try:
        async with recording(FleetRecorder(redis, writer, "rec", block_ms=50)) as recorder:
            await asyncio.wait_for(recorder.caught_up.wait(), 10)
    finally:
        await writer.close()
    stored = await asyncio.to_thread(stored_call, tmp_path / "calls.db", sid)
    roles = [(t.role, t.text) for t in stored.turns]
    recovered = roles.index(("agent", RECOVERY_LINE))
    assert roles[1:4] == [("caller", FIRST), ("agent", REPLY), ("caller", SECOND)], roles
    assert ("caller", THIRD) in roles[recovered:]
    assert [e.kind for e in stored.events].count("CallStarted") == 2
    assert stored.status == "ended"
    await redis.aclose()


# ---- the parts, in process -------------------------------------------------------------------

DEAD = "CA" + "d" * 32


def a_call_on(worker_sid: str) -> list[ev.CallEvent]:
    return [
        ev.CallStarted(worker_sid, stream_sid="MZ1", from_number="+15550001111",
                       to_number="+15550002222", profile="scheduling"),
        ev.TurnCompleted(worker_sid, role="agent", text="Hello, how can I help?", started=0,
                         ended=1),
        ev.TurnCompleted(worker_sid, role="caller", text=FIRST, started=1, ended=2),
        ev.TurnCompleted(worker_sid, role="agent", text=REPLY, started=2, ended=3),
        ev.CallerTranscribed(worker_sid, text="next", final=False),
        ev.CallerTranscribed(worker_sid, text="next Tuesday", final=True),
    ]


async def carried(redis: aioredis.Redis, sid: str) -> CarriedConversation | None:
    text = await redis.get(keys.conversation(sid))
    return None if text is None else CarriedConversation.from_json(text)


async def test_the_owning_worker_carries_the_conversation_and_drops_it_when_the_call_ends(
        redis_server: RedisServer) -> None:
    bus, redis = ev.EventBus(), aioredis.Redis.from_url(redis_server.url)
    publisher = await FleetPublisher(bus, redis, "w1", FleetSettings()).start()
    try:
        for event in [*a_call_on(DEAD),
                      ev.EmergencyDetected(DEAD, source="caller", phrase="chest pain",
                                           text="I have chest pain")]:
            bus.publish(event)
        await publisher.drained()
        kept = await carried(redis, DEAD)
        assert kept is not None
        assert (kept.profile, kept.caller, kept.called) == (
            "scheduling", "+15550001111", "+15550002222")
        assert kept.turns == [("agent", "Hello, how can I help?"), ("caller", FIRST),
                              ("agent", REPLY)]
        assert kept.in_progress == "next Tuesday"  # final words not yet a turn; interims not
        assert kept.emergency == "chest pain"
        assert 0 < await redis.ttl(keys.conversation(DEAD)) <= CARRIED_TTL_S

        bus.publish(ev.CallEnded(DEAD, reason="caller-hangup"))
        await publisher.drained()
        assert await carried(redis, DEAD) is None  # a call that really ended is not resumed
    finally:
        await publisher.stop()
        await redis.aclose()


async def test_the_worker_taking_a_call_over_carries_on_from_what_the_dead_one_left(
        redis_server: RedisServer) -> None:
    bus, redis = ev.EventBus(), aioredis.Redis.from_url(redis_server.url)
    old = await FleetPublisher(ev.EventBus(), redis, "w1", FleetSettings()).start()
    new = await FleetPublisher(bus, redis, "w2", FleetSettings()).start()
    try:
        for event in a_call_on(DEAD):
            old(event)
        await old.drained()
        taken = await Failover(redis, "w2", new).take_over(DEAD)
        assert taken is not None and taken.turns[1] == ("caller", FIRST)
        bus.publish(ev.CallStarted(DEAD, stream_sid="MZ2", profile="scheduling"))
        bus.publish(ev.TurnCompleted(DEAD, role="agent", text=RECOVERY_LINE, started=5, ended=6))
        await new.drained()
        kept = await carried(redis, DEAD)
        assert kept is not None and kept.caller == "+15550001111"
        assert kept.turns[1:] == [("caller", FIRST), ("agent", REPLY), ("agent", RECOVERY_LINE)]
        assert await redis.hget(keys.call(DEAD), "worker") == b"w2"
    finally:
        await new.stop()
        await old.stop()
        await redis.aclose()


@pytest.fixture
async def signed_workers(redis_server: RedisServer) -> AsyncIterator[list[Telephony]]:
    """Workers "a" and "b" of one fleet (signed, fronted by FRONT), b with failover."""
    started: list[tuple[Telephony, FleetWorker]] = []
    redis = aioredis.Redis.from_url(redis_server.url)
    for name in ("a", "b"):
        telephony = await start_telephony(
            twilio_auth_token=TOKEN, fleet_url=redis_server.url, fleet_name=name,
            fleet_heartbeat_s=0.2, fleet_front_url=FRONT)
        fleet = join_fleet(telephony.settings, telephony.server, telephony.server.address,
                           on_drained=lambda: None)
        await fleet.start()
        publisher = FleetPublisher(telephony.server.bus, redis, name, FleetSettings())
        telephony.server.take_over_orphans(Failover(redis, name, publisher))
        started.append((telephony, fleet))
    yield [telephony for telephony, _ in started]
    for telephony, fleet in started:
        await fleet.stop()
        await telephony.server.stop()
    await redis.aclose()


async def stream_ended(worker: Telephony, call_sid: str) -> ElementTree.Element:
    """Twilio's <Connect action> request, through the front, reaching `worker`."""
    form = {"CallSid": call_sid, "From": "+15550001111", "To": "+15550002222",
            "CallStatus": "in-progress"}
    headers = {"X-Twilio-Signature": signature_for(FRONT + "/stream-ended", form)}
    async with aiohttp.ClientSession() as session:
        async with session.post(worker.server.url + "/stream-ended", data=form,
                                headers=headers) as reply:
            assert reply.status == 200
            return ElementTree.fromstring(await reply.text())


async def test_stream_ended_resumes_only_a_carried_call_whose_worker_is_dead(
        signed_workers: list[Telephony], redis_server: RedisServer) -> None:
    a, b = signed_workers
    redis = aioredis.Redis.from_url(redis_server.url)
    try:
        assert (await stream_ended(b, DEAD)).find("Hangup") is not None  # nothing carried
        await redis.set(keys.conversation(DEAD), CarriedConversation(DEAD).to_json())
        await redis.hset(keys.call(DEAD), "worker", "a")
        assert (await stream_ended(b, DEAD)).find("Hangup") is not None  # a is alive
        await redis.hset(keys.call(DEAD), "worker", "gone")  # no heartbeat, no /health
        twiml = await stream_ended(b, DEAD)
    finally:
        await redis.aclose()
    connect, stream = twiml.find("./Connect"), twiml.find("./Connect/Stream")
    assert connect is not None and connect.get("action") == FRONT + "/stream-ended"
    assert stream is not None and stream.get("url") == b.server.media_url  # to itself
    params = {p.get("name", ""): p.get("value", "") for p in stream.iter("Parameter")}
    assert params["caller"] == "+15550001111" and params["resume"] and params["ticket"]

    # The new stream is a resumed call for its session, once; a peer saying so is not.
    await open_stream(b, DEAD, params)
    resumed = b.handler_for(DEAD).start.custom_parameters
    assert resumed == {"caller": "+15550001111", "called": "+15550002222", "resumed": "1"}
    for forged in ({"resumed": "1"}, {"resume": params["resume"]}):  # the token is spent
        start = tp.Start(stream_sid="MZ" + "e" * 32, call_sid=DEAD, custom_parameters=forged)
        assert "resumed" not in b.server.stream_parameters(start)


async def open_stream(worker: Telephony, call_sid: str, params: dict[str, str]) -> None:
    """What Twilio does with the TwiML's <Stream>: a signed upgrade, then `start`."""
    signed = "wss://" + worker.server.media_url.partition("://")[2]  # as Twilio signs it
    headers = {"X-Twilio-Signature": signature_for(signed)}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(worker.server.media_url, headers=headers) as ws:
            await ws.send_str(tp.build_connected())
            await ws.send_str(tp.build_start("MZ" + "f" * 32, call_sid, "", params))
            await worker.until(lambda: any(h.start.call_sid == call_sid
                                           for h in worker.handlers))


class DiedElsewhere:
    """The fleet's judgement (failover.Failover), given: `call` lost its worker, and here is
    what that worker carried. The runtime under test is a real one, with no fleet around it."""

    def __init__(self, call: CarriedConversation) -> None:
        self.call = call

    async def orphaned(self, call_sid: str) -> bool:
        return call_sid == self.call.call_sid

    async def take_over(self, call_sid: str) -> CarriedConversation | None:
        return self.call if call_sid == self.call.call_sid else None


async def test_an_emergency_under_way_when_its_worker_died_is_transferred_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(triage, "COMPANY_PAUSE_S", 0.3)
    stack, parts = await start_cloud_stack(tmp_path)
    call = CarriedConversation(
        DEAD, profile="medical_intake", caller="+15550001111",
        turns=[("agent", "Hello, this is the clinic."), ("caller", "I have chest pain")],
        emergency="chest pain")
    fleet = DiedElsewhere(call)
    stack.runtime.server.take_over_orphans(fleet)
    stack.runtime.carried_calls = fleet
    transferred = asyncio.Event()
    try:
        form = {"CallSid": DEAD, "From": call.caller, "To": "+15550002222"}
        signer = RequestValidator(stack.twilio.auth_token)  # this runtime's Twilio account
        headers = {SIGNATURE_HEADER: signer.compute_signature(PUBLIC_URL + "/stream-ended", form)}
        async with aiohttp.ClientSession() as session:
            async with session.post(stack.runtime.server.url + "/stream-ended", data=form,
                                    headers=headers) as reply:
                stream = ElementTree.fromstring(await reply.text()).find("./Connect/Stream")
        assert stream is not None
        # Its own /voice ticket comes with the ring; the resume token is the one given here.
        params = {p.get("name", ""): p.get("value", "") for p in stream.iter("Parameter")
                  if p.get("name") != "ticket"}
        caller = stack.caller(call_sid=DEAD, custom_parameters=params, wait_for_greeting=False,
                              hold=transferred.wait)
        on_the_line = asyncio.create_task(caller.run(), name="resumed-emergency")
        request = await stack.twilio.wait_for_request(lambda r: "Twiml" in r.form, 3.0)
        transferred.set()
        await asyncio.wait_for(on_the_line, 10)
    finally:
        transferred.set()
        await stop_cloud_stack(parts)
    assert f"<Number>{EMERGENCY[0]}</Number>" in request.form["Twiml"]
    assert not stack.groq.requests  # no reply first: the transfer goes on where it was
    [detected] = stack.events("EmergencyDetected")
    assert detected.call_sid == DEAD and detected.phrase == "chest pain"


async def test_a_call_ended_late_by_its_old_worker_stays_with_the_worker_that_took_it_over(
        redis_server: RedisServer) -> None:
    """A stopping worker's stream ends, the call moves on, and only then does the old worker's
    end of it reach Redis: the new worker's snapshot and conversation stay."""
    redis = aioredis.Redis.from_url(redis_server.url)
    old = await FleetPublisher(ev.EventBus(), redis, "w1", FleetSettings()).start()
    new = await FleetPublisher(ev.EventBus(), redis, "w2", FleetSettings()).start()
    try:
        for event in a_call_on(DEAD):
            old(event)
        await old.drained()
        new(ev.CallStarted(DEAD, stream_sid="MZ2", profile="scheduling"))
        await new.drained()
        old(ev.CallEnded(DEAD, reason="server-shutdown"))
        await old.drained()
        assert await redis.hget(keys.call(DEAD), "worker") == b"w2"
        assert await carried(redis, DEAD) is not None
        assert await redis.smembers(keys.LIVE_CALLS) == {DEAD.encode()}
        new(ev.CallEnded(DEAD, reason="caller-hangup"))
        await new.drained()
        assert not await redis.exists(keys.call(DEAD), keys.conversation(DEAD))
        assert await redis.smembers(keys.LIVE_CALLS) == set()
    finally:
        await new.stop()
        await old.stop()
        await redis.aclose()


async def test_a_worker_restarted_under_its_old_name_takes_over_its_predecessors_call(
        redis_server: RedisServer) -> None:
    redis = aioredis.Redis.from_url(redis_server.url)
    before = await FleetPublisher(ev.EventBus(), redis, "w1", FleetSettings()).start()
    after = FleetPublisher(ev.EventBus(), redis, "w1", FleetSettings())  # same name, new process
    try:
        for event in a_call_on(DEAD):
            before(event)
        await before.drained()
        assert not await Failover(redis, "w1", before).orphaned(DEAD)  # its own live call
        assert await Failover(redis, "w1", after).orphaned(DEAD)
    finally:
        await before.stop()
        await redis.aclose()
