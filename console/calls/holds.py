"""A reply waiting for the caller, and how the caller's silence is judged while it waits.

Two kinds of wait, one record:
- `Hold`: the caller spoke over the agent and it paused (`heard`), or over a reply not yet heard.
  The verdict: was that sound words (interrupt) or nothing (resume)?
- `Speculation`: a reply prepared the moment the caller went quiet, heard only once the turn is
  surely over (the release rule, no words since, and the recognizer's confirmation if it gives
  one).

Pure judgements on the record and the caller's silence; the floor acts on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from console.calls.ear import Heard
from console.calls.prosody import Ending
from console.calls.release import Release, ReleaseRule, release_after
from console.calls.reply import AgentReply

VERDICT_TICK_S = 0.01  # the shortest look at a held reply's caller
# Quiet this long and the caller's sound is over, for judging it: longer than the closure of a
# stop consonant or the dip inside "m-hm" (40 ms in our recordings), shorter than the voice
# activity's 150 ms hangover, because every millisecond here is silence inside the agent's reply.
VERDICT_QUIET_S = 0.12
SPEECH_STARTED_LAG_S = 0.25  # Deepgram's SpeechStarted trails the voice by 100-200 ms
# A recognizer that took the sound for speech always closes it (a final, even an empty one, or
# an utterance end); one that has not after this much quiet is not going to.
RECOGNIZER_LOST_S = 3.0


@dataclass
class Hold:
    """The reply waits for the caller. `heard`: some of it had been heard (the call is paused);
    otherwise it was still being prepared, or the caller was talking when it began."""

    heard: bool
    reply: AgentReply | None
    started: float = field(default_factory=time.monotonic)
    recognizing: bool = False  # the recognizer heard speech start and has not closed it yet
    closed: bool = False  # the recognizer finished the caller's sound
    finalized: bool = False  # we asked the recognizer to finish it (the caller went quiet)
    words: bool = False  # ...and it had words: their turn will replace this reply
    said: str = ""  # a backchannel heard meanwhile
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # the recognizer said more
    sound_at: float | None = None  # the caller made a sound since the hold began (its onset)


@dataclass
class Speculation(Hold):
    """A reply to a turn that may not be over: prepared at once, heard only when the release
    rule is met, the caller's sound since (if any) had no words, and the recognizer (if it
    ends turns itself) confirmed the end."""

    text: str = ""  # the caller's words it answers (with any that joined from before)
    turn_text: str = ""  # the recognizer's text of the turn, to know its confirmation
    settled: bool = True  # False until the recognizer confirms a tentative turn end
    speech_end: float = 0.0  # monotonic: when the caller went quiet
    at_once: bool = False  # a key press: nothing to wait for
    ending: Ending = Ending.UNKNOWN  # how the caller's voice ended (falling or not)
    ending_known: bool = True  # False while `ending` is being measured (off the loop)


def next_line_s(lines: Sequence[float], quiet: float) -> float:
    """When the caller's silence next crosses a line that matters (a caller who is still
    talking moves it on; the look then only finds that out)."""
    return max(VERDICT_TICK_S,
               min((line - quiet for line in lines if line > quiet), default=RECOGNIZER_LOST_S))


async def until_news(hold: Hold, timeout_s: float) -> None:
    """Until the recognizer (or the caller) says more, or `timeout_s`."""
    hold.changed.clear()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(hold.changed.wait(), timeout=timeout_s)


def sound_was_nothing(hold: Hold, quiet: float, window_s: float) -> bool:
    """The recognizer closed the sound with no words; or it never took it for speech and
    the caller stayed quiet for the window; or it said nothing for far too long."""
    if quiet < VERDICT_QUIET_S or hold.words:
        return False
    if not hold.recognizing:
        return hold.closed or quiet >= window_s
    return quiet >= RECOGNIZER_LOST_S


def sound_over(spec: Speculation, quiet: float, window_s: float) -> bool:
    """Nothing heard since the reply was prepared, or it was not words."""
    return spec.sound_at is None or sound_was_nothing(spec, quiet, window_s)


def caller_went_on(spec: Speculation, heard: Heard) -> bool:
    """The recognizer withdrew the turn end, or the caller is saying more after the pause
    (words that also end the turn restart the reply instead)."""
    went_on = heard.meaningful and spec.sound_at is not None and heard.turn is None
    return heard.resumed or went_on


def release_for(spec: Speculation, resumed_pauses: Sequence[float], rule: ReleaseRule) -> Release:
    if spec.at_once:
        return Release(0.0, "key press")
    return release_after(spec.text, resumed_pauses, rule, spec.ending)
