"""Issue 17's console side, end to end: two real media workers (two runtimes on the loopback cloud
fakes, each with the fleet's control consumer and a test-only publisher) and two fleet consoles
on one real Redis, with simulated Twilio callers.

Calls from both workers are on both consoles' boards with the worker named; an action from
either console reaches the right worker and the caller notices; a claim by one operator blocks
the other's take-over, which is told who holds the call; and the claim lapses once its console
stops renewing it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from console import audio_codec as audio
from console import events as ev
from console.fleet.backend import FleetBackend
from console.fleet.claims import ClaimRefused
from console.fleet.control import ControlConsumer
from console.simulate.caller import SimulatedCaller, Utterance
from console.tui.board import CallBoard
from tests.integration.conftest import CloudStack, start_cloud_stack, stop_cloud_stack

from .helpers import CLAIM_TTL_S, Seen, WorkerPublisher, client, fleet_settings, poll

pytestmark = pytest.mark.timeout(60)

HOLD = Utterance(mulaw=audio.silence(30_000), wait_for_reply=False)  # stays on the line


@dataclass
class Worker:
    name: str
    stack: CloudStack
    parts: Any
    consumer: ControlConsumer
    publisher: WorkerPublisher


@dataclass
class Desk:
    backend: FleetBackend
    seen: Seen
    board: CallBoard


@dataclass
class Call:
    caller: SimulatedCaller
    task: asyncio.Task[dict[str, Any]]

    @property
    def sid(self) -> str:
        return self.caller.options.call_sid

    def heard(self) -> bytes:
        return bytes(self.caller.playout.heard)


@contextlib.asynccontextmanager
async def media_worker(name: str, url: str, tmp_path) -> AsyncIterator[Worker]:
    stack, parts = await start_cloud_stack(tmp_path / name, ms_per_char=5.0)
    runtime = stack.runtime
    consumer = ControlConsumer(client(url), name, runtime.control, runtime.bus)
    publisher = await WorkerPublisher(url, name, runtime.bus).start()
    await consumer.start()
    try:
        yield Worker(name, stack, parts, consumer, publisher)
    finally:
        await consumer.stop()
        await stop_cloud_stack(parts)  # the calls' last events still reach the publisher
        await publisher.aclose()


@contextlib.asynccontextmanager
async def console_desk(name: str, url: str, tmp_path) -> AsyncIterator[Desk]:
    backend = FleetBackend(fleet_settings(tmp_path, url), console=name)
    desk = Desk(backend, Seen(backend.bus), CallBoard())
    backend.bus.subscribe(desk.board.apply)  # the dashboard's fold, as the console's bridge does
    await backend.start(lambda step, status: None)
    try:
        yield desk
    finally:
        await backend.stop()


@contextlib.asynccontextmanager
async def phoning(worker: Worker) -> AsyncIterator[Call]:
    caller = worker.stack.caller(HOLD)
    call = Call(caller, asyncio.create_task(caller.run(), name="simulated caller"))
    try:
        yield call
    finally:
        call.task.cancel()
        await asyncio.gather(call.task, return_exceptions=True)


def on_board(desk: Desk, call: Call) -> str:
    state = desk.board.get(call.sid)
    return state.worker if state is not None and state.live else ""


async def test_two_consoles_see_and_steer_the_calls_of_two_workers(redis_server, tmp_path) -> None:
    url = redis_server.url
    async with contextlib.AsyncExitStack() as stack:
        worker_a = await stack.enter_async_context(media_worker("worker-a", url, tmp_path))
        worker_b = await stack.enter_async_context(media_worker("worker-b", url, tmp_path))
        desk_a = await stack.enter_async_context(console_desk("desk-a:1", url, tmp_path))
        call_a = await stack.enter_async_context(phoning(worker_a))
        call_b = await stack.enter_async_context(phoning(worker_b))
        await desk_a.seen.until(lambda: on_board(desk_a, call_a) and on_board(desk_a, call_b))
        # Desk B joins with both calls live: it learns them from the snapshots.
        desk_b = await stack.enter_async_context(console_desk("desk-b:2", url, tmp_path))
        for desk in (desk_a, desk_b):
            assert (on_board(desk, call_a), on_board(desk, call_b)) == ("worker-a", "worker-b")

        # Alice (desk A) takes over worker B's call; desk B sees who has it and is refused.
        await desk_a.backend.control.take_over(call_b.sid, "alice")
        await desk_b.seen.until(lambda: desk_b.board.get(call_b.sid).holder == "alice")
        await desk_b.seen.until(lambda: desk_b.board.get(call_b.sid).state == "operator")
        with pytest.raises(ClaimRefused, match=r"alice has this call \(console desk-a:1\)"):
            await desk_b.backend.control.take_over(call_b.sid, "bob")

        # Desk A stops renewing (as if it died): the claim lapses after its TTL, and Bob gets it.
        await desk_a.backend.claims.stop()

        async def bob_takes_over() -> bool:
            with contextlib.suppress(ClaimRefused):
                await desk_b.backend.control.take_over(call_b.sid, "bob")
                return True
            return False

        waited = await poll(bob_takes_over, within=CLAIM_TTL_S + 3, every=0.1)
        assert waited > CLAIM_TTL_S / 3  # held until it lapsed, not free at once
        await desk_a.seen.until(lambda: desk_a.board.get(call_b.sid).holder == "bob")

        # Bob's line reaches worker B's caller; desk B hangs up worker A's caller.
        await desk_b.backend.control.say(call_b.sid, "Please hold.", "bob")
        spoken = worker_b.stack.deepgram.audio_for("Please hold.")
        await poll(_async(lambda: spoken[:800] in call_b.heard()), within=5)
        await desk_b.backend.control.hang_up(call_a.sid, "bob")
        summary = await asyncio.wait_for(call_a.task, 10)
        assert summary["ended_by"] == "server"
        for desk in (desk_a, desk_b):
            await desk.seen.until(lambda d=desk: not d.board.get(call_a.sid).live)
        assert not call_b.task.done()  # worker B's caller is still on the line
        hung_up = desk_a.seen.of(ev.OperatorActed, call_sid=call_a.sid, action="hang-up",
                                 actor="bob")
        assert hung_up and hung_up[0].request  # desk B's request: no other desk answers to it


def _async(check):
    async def polled() -> bool:
        return bool(check())
    return polled
