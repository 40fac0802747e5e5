"""A fleet console (FleetBackend) on a real Redis: it shows every worker's calls with the worker
named, sends each action to the call's worker and waits for its outcome, keeps take-over
exclusive across consoles, and rides out Redis going away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from console import events as ev
from console.fleet import keys, remote
from console.fleet.backend import FleetBackend
from console.fleet.claims import ClaimRefused, Holder
from console.fleet.remote import ActionFailed

from .helpers import (
    CLAIM_TTL_S,
    FakeWorker,
    Seen,
    add_event,
    client,
    fleet_settings,
    poll,
    write_snapshot,
)

pytestmark = pytest.mark.timeout(30)

CALL_A, CALL_B = "CA" + "a" * 32, "CA" + "b" * 32


class Fleet:
    def __init__(self, url: str, tmp_path: Path) -> None:
        self.url, self.tmp_path = url, tmp_path
        self.redis = client(url)
        self._consoles: list[FleetBackend] = []
        self._workers: list[FakeWorker] = []

    async def console(self, name: str) -> tuple[FleetBackend, Seen]:
        backend = FleetBackend(fleet_settings(self.tmp_path, self.url), console=name)
        seen = Seen(backend.bus)
        steps: list[tuple[str, str]] = []
        await backend.start(lambda step, status: steps.append((step, status)))
        self._consoles.append(backend)
        return backend, seen

    async def close_console(self, backend: FleetBackend) -> None:
        """The operator quits that console (the others stay)."""
        self._consoles.remove(backend)
        await backend.stop()

    async def worker(self, name: str) -> FakeWorker:
        made = await FakeWorker(self.url, name).start()
        self._workers.append(made)
        return made

    async def close(self) -> None:
        for backend in self._consoles:
            await backend.stop()
        for worker in self._workers:
            await worker.aclose()
        await self.redis.aclose()


@pytest.fixture
async def fleet(redis_server, tmp_path) -> AsyncIterator[Fleet]:
    made = Fleet(redis_server.url, tmp_path)
    yield made
    await made.close()


def hosted(seen: Seen) -> dict[str, str]:
    return {e.call_sid: e.worker for e in seen.of(ev.CallHosted)}


async def both_know(*desks: Seen) -> None:
    """Each console has heard of the call (one console acting on a call another has not heard
    of yet would be refused: it knows no worker to send to)."""
    for seen in desks:
        await seen.until(lambda s=seen: hosted(s))


async def test_a_console_joining_draws_the_live_calls_with_their_workers_and_holders(
        fleet) -> None:
    await write_snapshot(fleet.redis, ev.CallStarted(CALL_A, stream_sid="MZ1", profile="clinic",
                                                     from_number="+15550001111", at=100.0),
                         "worker-a", state="speaking")
    await write_snapshot(fleet.redis, ev.CallStarted(CALL_B, stream_sid="MZ2"), "worker-b")
    await fleet.redis.set(keys.claim(CALL_B), Holder("alice", "desk-a:1", 5.0).encode())
    await add_event(fleet.redis, ev.CallEnded("CAold", reason="hangup"), "worker-a")  # history
    _, seen = await fleet.console("desk-b:2")
    assert hosted(seen) == {CALL_A: "worker-a", CALL_B: "worker-b"}
    started = seen.of(ev.CallStarted, call_sid=CALL_A)[0]
    assert (started.from_number, started.profile, started.at) == ("+15550001111", "clinic", 100.0)
    assert seen.of(ev.StateChanged, call_sid=CALL_A)[0].state == "speaking"
    assert seen.of(ev.CallClaimed, call_sid=CALL_B)[0].holder == "alice"
    assert not seen.of(ev.CallEnded)  # the stream before joining is history, not replayed


async def test_every_attached_console_sees_each_event_once_with_the_worker_named(fleet) -> None:
    (_, first), (_, second) = await fleet.console("desk-a:1"), await fleet.console("desk-b:2")
    worker_a, worker_b = await fleet.worker("worker-a"), await fleet.worker("worker-b")
    worker_a.call(CALL_A)
    worker_b.call(CALL_B)
    worker_b.bus.publish(ev.CallerTranscribed(CALL_B, text="hello", final=True))
    for seen in (first, second):
        await seen.until(lambda s=seen: s.of(ev.CallerTranscribed) and len(hosted(s)) == 2)
        assert hosted(seen) == {CALL_A: "worker-a", CALL_B: "worker-b"}
        kinds = [e.kind for e in seen.events if e.call_sid == CALL_B]
        assert kinds == ["CallHosted", "CallStarted", "CallerTranscribed"]


async def test_an_action_reaches_only_the_calls_worker_and_returns_once_done(fleet) -> None:
    console, seen = await fleet.console("desk-a:1")
    worker_a, worker_b = await fleet.worker("worker-a"), await fleet.worker("worker-b")
    worker_a.call(CALL_A)
    worker_b.call(CALL_B)
    await seen.until(lambda: len(hosted(seen)) == 2)
    await console.control.mute_agent(CALL_B, True, "alice")
    assert worker_b.control.calls == [("mute_agent", CALL_B, True, "alice")]
    assert worker_a.control.calls == []
    assert seen.of(ev.OperatorActed, call_sid=CALL_B, action="mute", actor="alice")
    assert sorted(console.control.live_calls()) == [CALL_A, CALL_B]


async def test_an_operator_of_the_same_name_on_another_console_does_not_answer_for_mine(
        fleet) -> None:
    """Two desks both signed in as "operator" act on one call at once: the other desk's
    action going through must not tell this desk that its own, still failing, went through."""
    mine, seen = await fleet.console("desk-a:1")
    theirs, seen_b = await fleet.console("desk-b:2")
    worker = await fleet.worker("worker-a")
    worker.call(CALL_A)
    await both_know(seen, seen_b)
    asked, refuse = asyncio.Event(), asyncio.Event()

    async def decide_reply_then_fail(call_sid: str, decision: str, text: str, actor: str) -> None:
        asked.set()
        await refuse.wait()
        raise ValueError("no reply is waiting")

    worker.control.decide_reply = decide_reply_then_fail  # type: ignore[method-assign]
    asking = asyncio.create_task(mine.control.decide_reply(CALL_A, "approve", "", "operator"))
    await asked.wait()  # my request is on the worker, not answered yet
    await theirs.control.mute_agent(CALL_A, True, "operator")
    await seen.until(lambda: seen.of(ev.OperatorActed, action="mute"))  # my desk heard it too
    refuse.set()
    with pytest.raises(ActionFailed, match="no reply is waiting"):
        await asking


async def test_an_action_the_worker_could_not_do_fails_with_its_reason(fleet) -> None:
    console, seen = await fleet.console("desk-a:1")
    worker = await fleet.worker("worker-a")
    worker.call(CALL_A)
    await seen.until(lambda: hosted(seen))
    worker.control.fail_with = ValueError("no reply is waiting")
    with pytest.raises(ActionFailed, match="no reply is waiting"):
        await console.control.decide_reply(CALL_A, "approve", "", "alice")
    with pytest.raises(LookupError):  # a call no worker has
        await console.control.hang_up("CAnowhere", "alice")


async def test_an_action_for_a_worker_that_is_gone_fails_in_time_and_claims_nothing(
        fleet, monkeypatch) -> None:
    monkeypatch.setattr(remote, "ACTION_TIMEOUT_S", 0.3)
    console, seen = await fleet.console("desk-a:1")
    await add_event(fleet.redis, ev.CallStarted(CALL_A, stream_sid="MZ1"), "worker-gone")
    await seen.until(lambda: hosted(seen))
    with pytest.raises(ActionFailed, match="worker worker-gone did not answer"):
        await console.control.take_over(CALL_A, "alice")
    assert not await fleet.redis.exists(keys.claim(CALL_A))


async def alice_holds_a_call(fleet: Fleet) -> tuple[FleetBackend, Seen, FleetBackend, Seen,
                                                   FakeWorker]:
    """Two consoles that both know worker-a's call CALL_A, which alice took over on the first."""
    (desk_a, seen_a), (desk_b, seen_b) = (await fleet.console("desk-a:1"),
                                          await fleet.console("desk-b:2"))
    worker = await fleet.worker("worker-a")
    worker.call(CALL_A)
    await both_know(seen_a, seen_b)
    await desk_a.control.take_over(CALL_A, "alice")
    return desk_a, seen_a, desk_b, seen_b, worker


async def test_a_take_over_is_exclusive_and_every_console_shows_who_holds_the_call(
        fleet) -> None:
    desk_a, seen_a, desk_b, seen_b, worker = await alice_holds_a_call(fleet)
    for seen in (seen_a, seen_b):
        await seen.until(lambda s=seen: s.of(ev.CallClaimed, holder="alice"))
    with pytest.raises(ClaimRefused, match="alice has this call"):
        await desk_b.control.take_over(CALL_A, "bob")
    with pytest.raises(ClaimRefused):
        await desk_b.control.hand_back(CALL_A, "bob")
    assert [c[0] for c in worker.control.calls] == ["take_over"]  # bob's never reached it
    await desk_a.control.hand_back(CALL_A, "alice")
    await seen_b.until(lambda: seen_b.of(ev.ClaimReleased, holder="alice", why="handed back"))
    await desk_b.control.take_over(CALL_A, "bob")
    assert [c[0] for c in worker.control.calls] == ["take_over", "hand_back", "take_over"]


async def test_while_one_operator_holds_a_call_no_other_console_steers_it(fleet) -> None:
    """Alice has taken the call over: Bob's console cannot talk over her, transfer the caller
    or hang up on them; it can still say it saw the alert. Alice herself acts freely."""
    desk_a, seen_a, desk_b, seen_b, worker = await alice_holds_a_call(fleet)
    await seen_b.until(lambda: seen_b.of(ev.CallClaimed, holder="alice"))
    steering = [
        desk_b.control.say(CALL_A, "Hello?", "bob"),
        desk_b.control.mute_agent(CALL_A, True, "bob"),
        desk_b.control.whisper(CALL_A, "offer a refund", "bob"),
        desk_b.control.transfer(CALL_A, "billing", "bob"),
        desk_b.control.hang_up(CALL_A, "bob"),
        desk_b.control.decide_reply(CALL_A, "approve", "", "bob"),
    ]
    for action in steering:
        with pytest.raises(ClaimRefused, match=r"alice has this call \(console desk-a:1\)"):
            await action
    await desk_b.control.acknowledge(CALL_A, "bob", how="seen")
    await desk_a.control.say(CALL_A, "I'm here.", "alice")
    assert [c[0] for c in worker.control.calls] == ["take_over", "acknowledge", "say"]
    await desk_a.control.hand_back(CALL_A, "alice")
    await seen_b.until(lambda: seen_b.of(ev.ClaimReleased, holder="alice"))
    await desk_b.control.hang_up(CALL_A, "bob")  # nobody holds it now
    assert worker.control.calls[-1][0] == "hang_up"


async def test_a_console_that_closes_lets_go_of_its_calls(fleet) -> None:
    desk_a, _, _, seen_b, _ = await alice_holds_a_call(fleet)
    await fleet.close_console(desk_a)
    await seen_b.until(lambda: seen_b.of(ev.ClaimReleased, why="console closed"))
    assert not await fleet.redis.exists(keys.claim(CALL_A))


async def test_every_console_sees_a_claim_lapse_when_its_console_stops_renewing(fleet) -> None:
    desk_a, _, _, seen_b, _ = await alice_holds_a_call(fleet)
    await desk_a.claims.stop()  # desk A froze or lost Redis: nobody announces the lapse
    await seen_b.until(lambda: seen_b.of(ev.ClaimReleased, holder="alice", why="lapsed"),
                       within=CLAIM_TTL_S + 3)
    assert not await fleet.redis.exists(keys.claim(CALL_A))


async def test_the_status_names_the_workers_and_a_redis_outage_then_the_board_recovers(
        fleet, redis_server) -> None:
    await fleet.redis.set(keys.worker("worker-a"), "{}")
    await fleet.redis.set(keys.worker("worker-b"), "{}")
    console, seen = await fleet.console("desk-a:1")
    assert console.status()["local_url"] == "fleet: 2 workers, 0 live calls, Redis up"
    redis_server.stop()
    await poll(_async(lambda: console.status()["errors"]["redis down"] == 1), within=5)
    assert "REDIS UNREACHABLE" in console.status()["local_url"]
    redis_server.start()  # empty: a restarted Redis keeps nothing here
    await write_snapshot(fleet.redis, ev.CallStarted(CALL_A, stream_sid="MZ1"), "worker-a")
    await add_event(fleet.redis, ev.CallerTranscribed(CALL_A, text="still here", final=True),
                    "worker-a")
    await seen.until(lambda: seen.of(ev.CallerTranscribed, text="still here"), within=10)
    assert hosted(seen) == {CALL_A: "worker-a"}
    assert console.status()["errors"]["redis down"] == 0


def _async(check):
    async def polled() -> bool:
        return bool(check())
    return polled
