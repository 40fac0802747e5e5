"""Warm transfer (issue 15, part 4): the caller holds, a person is called and briefed, then joined.

The runtime's side of the flow that console/telephony/conference.py describes on the wire:
- `start` (the calls ring's WarmTransferPort): the caller's call is moved into a conference with a
  hold line, and the first target is called. The caller's media stream ends; its session parks
  (console.calls.session) with the conversation intact.
- `answered` (Twilio fetched the answer URL): the target hears the brief (the summary so far by
  the profile's rules, the caller's number, the reason), then joins the caller. The parked
  session ends ("warm-transferred"): summary, recording and webhook follow as for any call.
- `target_finished` (the target's final status): busy, no-answer, failed or canceled move on to
  the next target; after the last, the caller is redirected to /voice and comes back to the agent
  on a new stream (`resume` hands the new session the parked one), and the operator is alerted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from console import events as ev
from console.calls.ports import HeldCall  # the session a transfer holds
from console.config import PublicAddress, Settings
from console.redaction import redact
from console.summary.facts import CallFacts
from console.summary.rules import summarize_by_rules
from console.telephony.conference import (
    ANSWER_PATH,
    CONFERENCE_PATH,
    HOLD_PATH,
    NOT_CONNECTED,
    STATUS_PATH,
    caller_hold_twiml,
    empty_twiml,
    hold_twiml,
    target_brief_twiml,
    warm_url,
)
from console.telephony.twilio_rest import NOT_FOUND, TwilioRest, TwilioRestError

log = logging.getLogger(__name__)

VOICE_PATH = "/voice"  # the media server's voice webhook: a redirect there opens a new stream
# What the caller hears first when they come back to the agent (said in place of the greeting).
WELCOME_BACK = "Sorry, nobody could take your call just now. I am back with you. How can I help?"
ROLES = {"user": "caller", "assistant": "agent"}
# Twilio's answers to redirecting a call that has ended: 20404 (gone), 21220 ("Call is not
# in-progress. Cannot redirect."): the caller hung up while on hold.
CALLER_GONE = frozenset({NOT_FOUND, 21220})  # Conversation roles -> summary turn roles


@dataclass
class _Transfer:
    call: HeldCall  # parked once its stream ends
    targets: tuple[str, ...]
    reason: str
    brief: str
    index: int = 0  # the target being called
    leg: str = ""  # that target's call SID, once Twilio created it
    connected: bool = False
    returning: bool = False  # nobody took it: the caller is on their way back to the agent

    @property
    def target(self) -> str:
        return self.targets[self.index]


class WarmTransfers:
    def __init__(self, settings: Settings, bus: ev.EventBus,
                 rest: Callable[[], TwilioRest | None],
                 address: PublicAddress | None = None) -> None:
        self.settings = settings
        self.address = address or PublicAddress.of(settings)  # the tunnel's, once open
        self.bus = bus
        self._rest = rest  # the runtime's Twilio REST client, once it has started
        self._transfers: dict[str, _Transfer] = {}

    # --- the calls ring's port ------------------------------------------------------------------
    async def start(self, call: HeldCall, targets: tuple[str, ...], reason: str) -> None:
        rest = self._ready()
        targets = tuple(t for t in targets if t)
        if not targets:
            raise ValueError("no target to transfer to")
        if call.sid in self._transfers:
            raise RuntimeError("a warm transfer of this call is already under way")
        if not self.settings.twilio.phone_number:  # Calls create needs a `From` of ours
            raise RuntimeError("warm transfer needs TWILIO_PHONE_NUMBER (the target sees it)")
        transfer = _Transfer(call, targets, reason, compose_brief(call, reason))
        self._transfers[call.sid] = transfer
        try:
            await rest.redirect(call.sid, caller_hold_twiml(
                call.sid, self._url(HOLD_PATH, call), self._url(CONFERENCE_PATH, call)))
        except Exception:
            del self._transfers[call.sid]
            raise
        self._started(transfer)
        await self._dial(transfer)

    def _ready(self) -> TwilioRest:
        rest = self._rest()
        if rest is None or not self.address.url:
            raise RuntimeError("warm transfer needs Twilio credentials and a public URL")
        return rest

    def _url(self, path: str, call: HeldCall) -> str:
        assert self.address.url
        return warm_url(self.address.url, path, call.sid)

    def _started(self, transfer: _Transfer) -> None:
        self.bus.publish(ev.WarmTransferStarted(transfer.call.sid, target=transfer.target,
                                                reason=transfer.reason, brief=transfer.brief))

    async def _dial(self, transfer: _Transfer) -> None:
        call = transfer.call
        try:
            transfer.leg = await self._ready().create_call(
                transfer.target, self.settings.twilio.phone_number or "",  # checked at start
                url=self._url(ANSWER_PATH, call), status_callback=self._url(STATUS_PATH, call),
                timeout_s=self.settings.warm.ring_timeout_s)
        except Exception as error:  # noqa: BLE001 - Twilio refused this target: try the next
            log.warning("call %s: warm transfer to %s not placed: %s", call.sid,
                        transfer.target, error)
            await self._not_taken(transfer, "failed")

    # --- the webhooks (console/telephony/warm_routes.py) ------------------------------------------
    def in_progress(self, call_sid: str, leg_sid: str | None) -> bool:
        transfer = self._transfers.get(call_sid)
        if transfer is None:
            return False
        # The leg is known once Calls create answered; a callback cannot come before that.
        return leg_sid is None or leg_sid == transfer.leg

    async def answered(self, call_sid: str, leg_sid: str) -> str:
        transfer = self._transfers[call_sid]
        if transfer.returning:
            return empty_twiml()  # too late: the caller is back with the agent
        transfer.connected = True
        self.bus.publish(ev.WarmTransferConnected(call_sid, target=transfer.target))
        await transfer.call.end_parked("warm-transferred")
        return target_brief_twiml(call_sid, transfer.brief)

    async def target_finished(self, call_sid: str, leg_sid: str, status: str) -> None:
        transfer = self._transfers[call_sid]
        if transfer.connected:
            del self._transfers[call_sid]  # they talked and hung up: nothing more will come
        elif status in NOT_CONNECTED or status == "completed":
            await self._not_taken(transfer, status)

    def hold(self, call_sid: str) -> str:
        return hold_twiml(self.settings.warm.hold_line, self.settings.warm.hold_music_url)

    async def caller_left(self, call_sid: str) -> None:
        """The caller hung up while on hold: the target still ringing is called off, the call
        ends. (Leaving because they were joined, or sent back to the agent, is not this.)"""
        transfer = self._transfers.get(call_sid)
        if transfer is None or transfer.connected or transfer.returning:
            return
        del self._transfers[call_sid]
        self.bus.publish(ev.TransferFinished(call_sid, target=transfer.target,
                                             outcome="caller-hung-up"))
        await transfer.call.end_parked("caller-hung-up-on-hold")
        if transfer.leg:
            try:
                await self._ready().cancel(transfer.leg)
            except Exception as error:  # noqa: BLE001 - it rings out on its own (timeout)
                log.info("call %s: target leg not called off: %s", call_sid, error)

    # --- nobody took it ---------------------------------------------------------------------
    async def _not_taken(self, transfer: _Transfer, outcome: str) -> None:
        sid = transfer.call.sid
        self.bus.publish(ev.TransferFinished(sid, target=transfer.target, outcome=outcome))
        if transfer.index + 1 < len(transfer.targets):
            transfer.index += 1
            self._started(transfer)
            await self._dial(transfer)
            return
        transfer.returning = True
        self.bus.publish(ev.WarmTransferReturned(sid, target=transfer.target, outcome=outcome))
        if await self._back_to_agent(transfer):
            # An emergency nobody took is the operator's at once (as a failing cold one is).
            level = "critical" if transfer.reason.startswith("emergency") else "warning"
            self.bus.publish(ev.AlertRaised(sid, level=level, message=(
                f"Warm transfer to {transfer.target}: {outcome}. "
                "The caller is back with the agent.")))

    async def _back_to_agent(self, transfer: _Transfer) -> bool:
        """Redirect the caller to /voice (a new stream to the agent). False when they hung up
        meanwhile (the call then ends) or Twilio refused (the operator must act)."""
        assert self.address.url
        try:
            await self._ready().redirect_url(transfer.call.sid,
                                             self.address.url + VOICE_PATH)
        except TwilioRestError as error:
            if error.code in CALLER_GONE:  # they hung up while on hold: nobody to bring back
                del self._transfers[transfer.call.sid]
                await transfer.call.end_parked("caller-hung-up-on-hold")
                return False
            log.warning("call %s: could not bring the caller back: %s", transfer.call.sid, error)
            self.bus.publish(ev.AlertRaised(transfer.call.sid, level="critical", message=(
                "Warm transfer failed and the caller is still on hold: take the call")))
            return False
        return True

    # --- the runtime ------------------------------------------------------------------------
    async def end_all(self, reason: str) -> None:
        """Shutdown: calls on hold have no stream the server could end; they end here."""
        for sid, transfer in list(self._transfers.items()):
            del self._transfers[sid]
            if not transfer.connected:
                await transfer.call.end_parked(reason)

    def resume(self, call_sid: str) -> HeldCall | None:
        """The parked session of a caller coming back to the agent, or None."""
        transfer = self._transfers.get(call_sid)
        if transfer is None or not transfer.returning:
            return None
        del self._transfers[call_sid]
        return transfer.call


def compose_brief(call: HeldCall, reason: str) -> str:
    """What the target hears before the caller: the summary so far (the profile's rules, so it
    costs no model call and never waits), the caller's number digit by digit, and the reason.
    What the profile redacts (cards, SSNs, dates of birth) is not read out either."""
    facts = CallFacts(call.sid, profile=call.profile.name, turns=conversation_turns(call))
    summary = redact(summarize_by_rules(facts, call.profile).summary, call.profile.redact).text
    number = call.start_info.custom_parameters.get("caller", "")
    caller = spell_number(number) if number else "an unknown number"
    return (f"Transfer from the voice agent. Reason: {reason.rstrip('.')}. "
            f"The caller's number is {caller}. {summary} Connecting you now.")


def conversation_turns(call: HeldCall) -> list[tuple[str, str]]:
    return [(ROLES[m.role], m.content) for m in call.conversation.messages if m.role in ROLES]


def spell_number(number: str) -> str:
    """"+15550001111" -> "1 5 5 5 0 0 0 1 1 1 1": <Say> reads a long digit run as one number."""
    return " ".join(ch for ch in number if ch.isdigit()) or number
