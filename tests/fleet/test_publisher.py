"""A media worker's publisher: its call events on the fleet's stream in order, each call's
snapshot while it is live, and calls that go on talking while Redis is away."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis

from console import events as ev
from console.config.groups import FleetSettings
from console.fleet import keys, wire
from console.fleet.publisher import FleetPublisher
from tests.integration.conftest import Watch, spoken, start_cloud_stack, stop_cloud_stack

SID = "CA" + "1" * 32


def a_call_so_far(sid: str = SID) -> list[ev.CallEvent]:
    return [
        ev.CallStarted(sid, stream_sid="MZ1", from_number="+15550001111", profile="scheduling"),
        ev.StateChanged(sid, state="listening"),
        ev.TurnCompleted(sid, role="caller", text="I need to move my visit", started=1.0,
                         ended=2.0),
        ev.TurnMeasured(sid, turn=1, stages={"voice_to_voice": 512.0}),
        ev.TurnCompleted(sid, role="agent", text="Sure, to which day?", started=2.5, ended=3.5),
        ev.StateChanged(sid, state="speaking"),
    ]


def its_end(sid: str = SID) -> list[ev.CallEvent]:
    return [ev.CallEnded(sid, reason="caller-hangup"),
            ev.CallSummarized(sid, summary="Moved a visit.", disposition="rescheduled")]


async def on_the_stream(redis: aioredis.Redis) -> list[wire.FleetEvent]:
    found = [wire.decode(fields) for _, fields in await redis.xrange(keys.EVENTS)]
    assert None not in found  # every entry is one the fleet can read
    return [entry for entry in found if entry is not None]


def facts(events: list[ev.CallEvent]) -> list[tuple[str, str, float]]:
    return [(e.kind, e.call_sid, e.at) for e in events]


async def test_a_calls_events_reach_the_stream_in_order_and_its_snapshot_lives_with_the_call(
        redis_server):
    bus, redis = ev.EventBus(), aioredis.Redis.from_url(redis_server.url)
    publisher = await FleetPublisher(bus, redis, "worker-a", FleetSettings()).start()
    live, ended = a_call_so_far(), its_end()
    try:
        for event in live:
            bus.publish(event)
        await publisher.drained()

        entries = await on_the_stream(redis)
        assert facts([e.event for e in entries]) == facts(live)
        assert {e.worker for e in entries} == {"worker-a"}
        assert len({e.id for e in entries}) == len(live)
        stored = await redis.hgetall(keys.call(SID))
        snapshot = {k.decode(): v.decode() for k, v in stored.items()}
        assert snapshot["worker"] == "worker-a" and snapshot["profile"] == "scheduling"
        assert snapshot["from_number"] == "+15550001111" and snapshot["state"] == "speaking"
        assert json.loads(snapshot["transcript"]) == [
            {"role": "caller", "text": "I need to move my visit"},
            {"role": "agent", "text": "Sure, to which day?"}]
        assert json.loads(snapshot["latency"]) == {"turn": 1, "stages": {"voice_to_voice": 512.0}}
        assert await redis.smembers(keys.LIVE_CALLS) == {SID.encode()}

        for event in ended:
            bus.publish(event)
        await publisher.drained()

        assert facts([e.event for e in await on_the_stream(redis)]) == facts(live + ended)
        # Gone when the call ends, and the summary that comes after does not bring it back.
        assert not await redis.exists(keys.call(SID))
        assert await redis.smembers(keys.LIVE_CALLS) == set()
    finally:
        await publisher.stop()
        await redis.aclose()


async def test_with_redis_gone_the_backlog_keeps_the_newest_events_and_counts_the_rest(
        redis_server):
    bus, redis = ev.EventBus(), aioredis.Redis.from_url(redis_server.url)
    publisher = await FleetPublisher(bus, redis, "worker-a", FleetSettings(),
                                     max_backlog=100).start()
    published: list[ev.CallEvent] = []
    bus.subscribe(published.append)
    watch = Watch(bus)
    try:
        bus.publish(a_call_so_far()[0])
        await publisher.drained()
        redis_server.stop()

        for n in range(300):  # the call goes on: each publish returns at once, none raises
            bus.publish(ev.CallerTranscribed(SID, text=f"word {n}", final=False))

        await watch.until(lambda: watch.of("ProviderDegraded", provider="fleet"))
        status = publisher.status()
        assert not status.connected and status.outage_since is not None
        assert status.backlog == 100 and status.dropped == len(published) - 1 - 100

        redis_server.start()  # empty: this test's Redis keeps nothing on disk
        await asyncio.wait_for(publisher.drained(), 10)

        assert facts([e.event for e in await on_the_stream(redis)]) == facts(published[-100:])
        assert publisher.status().connected and publisher.status().backlog == 0
        # The restarted Redis had lost the live call's snapshot: the publisher wrote it again.
        assert (await redis.hget(keys.call(SID), "worker")) == b"worker-a"
        assert await redis.sismember(keys.LIVE_CALLS, SID)
    finally:
        await publisher.stop()
        await redis.aclose()


async def test_a_call_talks_on_through_a_redis_outage_and_every_event_reaches_the_stream_once(
        tmp_path, redis_server):
    stack, parts = await start_cloud_stack(
        tmp_path, script=["I need to move my visit", "Friday please"])
    runtime = stack.runtime
    redis = aioredis.Redis.from_url(redis_server.url)
    watch = Watch(runtime.bus)
    publisher = await FleetPublisher(runtime.bus, redis, "worker-a", FleetSettings()).start()
    outage: dict[str, int] = {}

    def cut_redis_when_the_caller_first_finishes(event: ev.CallEvent) -> None:
        # On the call's own path, so nothing is sent between the count and the cut.
        if not outage and isinstance(event, ev.TurnCompleted) and event.role == "caller":
            redis_server.stop()
            outage.update(confirmed=publisher.status().sent, seen=len(watch.events))

    runtime.bus.subscribe(cut_redis_when_the_caller_first_finishes)
    try:
        await stack.caller(spoken(), spoken(), fast=True).run()
        await watch.until(lambda: watch.of("CallSummarized"))

        # The caller was answered after Redis went away, and the outage was shown.
        assert outage, "the caller never finished a turn"
        agent_turns_after = [e for e in watch.events[outage["seen"]:]
                             if isinstance(e, ev.TurnCompleted) and e.role == "agent"]
        assert len(agent_turns_after) >= 2
        assert watch.of("ProviderDegraded", provider="fleet")
        assert not publisher.status().connected

        redis_server.start()
        await asyncio.wait_for(publisher.drained(), 10)

        # Everything Redis had not confirmed when it died arrives once, in order, after.
        entries = await on_the_stream(redis)
        assert facts([e.event for e in entries]) == facts(watch.events[outage["confirmed"]:])
        assert len({e.id for e in entries}) == len(entries)
        assert not await redis.exists(keys.call(watch.events[0].call_sid))
    finally:
        await publisher.stop()
        await redis.aclose()
        await stop_cloud_stack(parts)
