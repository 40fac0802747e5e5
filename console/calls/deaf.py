"""A call that can no longer hear its caller: the recognizer is gone, with nothing behind it.

The agent cannot answer, and an emergency the caller describes would go unnoticed, so a person
must take the call: the operator gets a critical alert at once (take over, listen in: the
caller's audio still reaches the console). Meanwhile the caller is told that a person is coming,
and kept company until one does, never over their voice (the voice activity needs no
recognizer). Their audio is dropped, and counted, instead of queueing for a recognizer that
will never read it.

Why not transfer the call to the profile's number on our own: this is an operator console. The
alert is the fastest way to a person who can see the call, and a transfer racing the operator's
take-over would pull the caller away from the one who answered the alert.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from console import events as ev
from console.calls.company import keep_company
from console.calls.ear import Ear
from console.calls.ports import CallEvents
from console.calls.state import CallMode, CallState
from console.calls.triage import KEEP_COMPANY_LINE
from console.calls.vad import VoiceActivity

log = logging.getLogger(__name__)

DEAF_ALERT = "This call cannot hear the caller (speech recognition is gone): take over"
DEAF_LINE = "Sorry, I can't hear you right now. Please stay on the line: a person is coming."
# Then, in turn, the emergency's own company line (one line fewer to prepare per profile).
DEAF_LINES = (DEAF_LINE, KEEP_COMPANY_LINE)
# Between two lines: the caller is not in silence for long, and not talked at without pause
# (they may be trying to speak to us; we cannot know what they say).
DEAF_PAUSE_S = 4.0
# While a person (or a transfer) has the call: look this often whether it was handed back.
RECHECK_S = 0.5
_SOMEONE_ELSE = frozenset({CallMode.OPERATOR, CallMode.TRANSFERRING})
_OVER = frozenset({CallMode.ENDING, CallMode.ENDED})


class DeafHost(Protocol):
    sid: str
    call_state: CallState
    events: CallEvents
    ear: Ear

    async def speak_line(self, text: str, *, role: str = "agent") -> bool: ...

    def caller_voice(self) -> VoiceActivity: ...


async def carry_on_deaf(host: DeafHost, problem: str) -> None:
    """Runs for the rest of the call: alert, stop queueing audio, keep the caller company
    whenever nobody else has the call. Reports what was dropped when the call ends."""
    log.error("call %s cannot hear the caller: %s", host.sid, problem)
    host.ear.deafen()
    host.events.degraded("stt", problem, "none: the operator must take over")
    host.events(ev.AlertRaised, level="critical", message=DEAF_ALERT)
    try:
        await _company_while_alone(host)
    finally:
        host.events(ev.AudioDropped, where="deaf", frames=host.ear.frames_unheard)


async def _company_while_alone(host: DeafHost) -> None:
    """The lines run while the agent alone has the call; a person's take-over stops them, a
    hand-back starts them again from the first."""
    state = host.call_state
    while state.mode not in _OVER:
        if state.mode in _SOMEONE_ELSE:
            await asyncio.sleep(RECHECK_S)
            continue
        await keep_company(host, DEAF_LINES, DEAF_PAUSE_S,
                           done=lambda: state.mode in _SOMEONE_ELSE | _OVER)
