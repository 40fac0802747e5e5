"""A fleet console's CallControl: each action goes to the worker that owns the call.

The action is written to that worker's control stream (console/fleet/actions.py) and its outcome
comes back on the fleet's event stream like everything else: the worker's CallControl records it
as OperatorActed (the action is under way), or the worker's control publishes
OperatorActionFailed; either names this request. The console's call waits for one of the two, so
the operator is told of a failure as in the single-process console, and never takes another
console's action (an operator of the same name, on the same call) for its own.

Take-over is exclusive (claims.py): taking a call over claims it first, and another operator's
claim refuses the take-over with their name; handing back lets go of it. While one operator
holds a call, every other console's action that steers it (say, mute, transfer, hang up...) is
refused with their name too; only acknowledging an alert is open to all. Every console hears who
holds a call: the claim and its release are events on the fleet's stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from console import events as ev
from console.fleet import keys
from console.fleet.actions import ActionRequest
from console.fleet.claims import ClaimRefused, Claims
from console.fleet.directory import Directory
from console.fleet.tail import entry

ACTION_TIMEOUT_S = 5.0  # a worker that has not answered by then is gone or cut off from Redis
CONTROL_MAXLEN = 1000  # a control stream holds a moment's actions; older ones are stale anyway
NO_CALL_AUDIO = ("call audio does not cross the fleet (this console hears and speaks for no "
                 "call): press s to type what the caller hears")

Announce = Callable[[ev.CallEvent, str], Awaitable[None]]
"""Publish an event on the fleet's stream, as the call's worker (named) would."""


class ActionFailed(RuntimeError):
    """The call's worker could not do the action; the message is its reason."""


@dataclass
class _Pending:
    call_sid: str
    actor: str
    answer: asyncio.Future[None]


class RemoteControl:
    carries_audio = False  # the console's microphone stays off (console/tui/audio_desk.py)

    def __init__(self, client: aioredis.Redis, claims: Claims, calls: Directory,
                 announce: Announce) -> None:
        self._redis = client
        self.claims = claims
        self._calls = calls
        self._announce = announce
        self._pending: dict[str, _Pending] = {}

    # --- outcomes, from the fleet's stream -----------------------------------------------------

    def observe(self, event: ev.CallEvent) -> None:
        """Settle the request an event answers (the backend shows it every event it follows)."""
        if isinstance(event, ev.OperatorActionFailed):
            pending = self._pending.get(event.request)
            if pending is not None and not pending.answer.done():
                pending.answer.set_exception(ActionFailed(event.error))
        elif isinstance(event, ev.OperatorActed):
            pending = self._answered_by(event)
            if pending is not None:
                pending.answer.set_result(None)

    def _answered_by(self, event: ev.OperatorActed) -> _Pending | None:
        """The request the action under way answers: the one it names. A worker of an older
        version names none; then the first waiting request of that call and operator."""
        if event.request:
            pending = self._pending.get(event.request)
            return pending if pending is not None and not pending.answer.done() else None
        return next((p for p in self._pending.values()
                     if (p.call_sid, p.actor) == (event.call_sid, event.actor)
                     and not p.answer.done()), None)

    # --- CallControl ---------------------------------------------------------------------------

    def live_calls(self) -> list[str]:
        return self._calls.live()

    async def take_over(self, call_sid: str, actor: str) -> None:
        await self._claimed(call_sid, actor, "take_over")

    async def hand_back(self, call_sid: str, actor: str) -> None:
        await self._steer(call_sid, "hand_back", actor)
        await self._let_go(call_sid, "handed back")

    async def mute_agent(self, call_sid: str, muted: bool, actor: str) -> None:
        await self._steer(call_sid, "mute_agent", actor, muted=muted)

    async def pause_listening(self, call_sid: str, paused: bool, actor: str) -> None:
        await self._steer(call_sid, "pause_listening", actor, paused=paused)

    async def say(self, call_sid: str, text: str, actor: str) -> None:
        await self._steer(call_sid, "say", actor, text=text)

    async def whisper(self, call_sid: str, guidance: str, actor: str) -> None:
        await self._steer(call_sid, "whisper", actor, guidance=guidance)

    async def transfer(self, call_sid: str, number: str, actor: str) -> None:
        await self._steer(call_sid, "transfer", actor, number=number)

    async def warm_transfer(self, call_sid: str, number: str, actor: str,
                            reason: str = "") -> None:
        await self._steer(call_sid, "warm_transfer", actor, number=number, reason=reason)

    async def hang_up(self, call_sid: str, actor: str) -> None:
        await self._steer(call_sid, "hang_up", actor)

    async def send_operator_audio(self, call_sid: str, mulaw: bytes) -> None:
        raise LookupError(NO_CALL_AUDIO)

    async def gate_replies(self, call_sid: str, on: bool, actor: str) -> None:
        await self._steer(call_sid, "gate_replies", actor, on=on)

    async def decide_reply(self, call_sid: str, decision: str, text: str, actor: str) -> None:
        if decision == "reject":  # the operator takes the call: exclusive, as a take-over
            await self._claimed(call_sid, actor, "decide_reply", decision=decision, text=text)
        else:
            await self._steer(call_sid, "decide_reply", actor, decision=decision, text=text)

    async def acknowledge(self, call_sid: str, actor: str, how: str = "") -> None:
        # Seeing an alert steers nothing: any operator may say so, held call or not.
        await self._ask(call_sid, "acknowledge", actor, how=how)

    # --- claims --------------------------------------------------------------------------------

    async def _claimed(self, call_sid: str, actor: str, action: str, **args: Any) -> None:
        """Claim the call, then act; an action that fails lets go of a claim it made."""
        worker = self._worker(call_sid)
        newly = await self.claims.claim(call_sid, actor)  # ClaimRefused: someone else has it
        try:
            await self._ask(call_sid, action, actor, **args)
        except BaseException:
            if newly:
                await self.claims.release(call_sid)
            raise
        if newly:
            await self._announce(ev.CallClaimed(call_sid, holder=actor,
                                                console=self.claims.console), worker)

    async def _steer(self, call_sid: str, action: str, actor: str, **args: Any) -> None:
        """An action that changes what the caller hears or where the call goes: refused on a
        call another operator holds (what they say and do on it is theirs alone). Checked, not
        locked: a claim made between the check and the action does not stop it."""
        await self._refuse_if_held_by_another(call_sid)
        await self._ask(call_sid, action, actor, **args)

    async def _refuse_if_held_by_another(self, call_sid: str) -> None:
        """Asked of Redis, not of our own list: a claim of ours that lapsed may be someone
        else's by now."""
        holder = await self.claims.holder(call_sid)
        if holder is not None and holder.console != self.claims.console:
            raise ClaimRefused(call_sid, holder)

    async def _let_go(self, call_sid: str, why: str) -> None:
        mine = await self.claims.release(call_sid)
        worker = self._calls.worker_of(call_sid)
        if mine is not None and worker is not None:
            await self._announce(ev.ClaimReleased(call_sid, holder=mine.actor, why=why), worker)

    async def release_all(self, why: str) -> None:
        """The console is closing: its operator lets go of every call they hold."""
        for call_sid in self.claims.held():
            await self._let_go(call_sid, why)

    # --- sending -------------------------------------------------------------------------------

    def _worker(self, call_sid: str) -> str:
        worker = self._calls.worker_of(call_sid)
        if worker is None:
            raise LookupError(f"no live call {call_sid} in the fleet")
        return worker

    async def _ask(self, call_sid: str, action: str, actor: str, **args: Any) -> None:
        """Send the action to the call's worker and wait for its outcome."""
        worker = self._worker(call_sid)
        request = ActionRequest(action, call_sid, actor, args, self.claims.console)
        answer = asyncio.get_running_loop().create_future()
        self._pending[request.request] = _Pending(call_sid, actor, answer)
        try:
            await self._redis.xadd(keys.control(worker), entry(request.encode()),
                                   maxlen=CONTROL_MAXLEN, approximate=True)
            async with asyncio.timeout(ACTION_TIMEOUT_S):
                await answer
        except TimeoutError:
            raise ActionFailed(f"worker {worker} did not answer in {ACTION_TIMEOUT_S:.0f} s") \
                from None
        finally:
            del self._pending[request.request]
