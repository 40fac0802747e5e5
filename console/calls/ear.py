"""The ear: the caller's audio in, decisions out.

Every inbound frame goes to the voice-activity detector (is the caller talking right now?) and on
to the recognizer. The recognizer's transcript events come back as one `Heard` value each, which
says what the coordinator needs to decide: are there words, are they more than a backchannel, has
the utterance closed, has a whole caller turn ended. Deciding what to do is not the ear's job.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import Enum

from console.calls.prosody import Ending, ending_of
from console.calls.turns import DEFAULT_BACKCHANNELS, CallerTurn, TurnDetector, is_backchannel
from console.calls.vad import VadSettings, VoiceActivity
from console.providers.base import AudioQueueReader, SpeechToText, TranscriptEvent
from console.providers.queues import NewestAudio

# Caller audio waiting for the recognizer: 10 s = 500 frames of 20 ms (80 kB). A live recognizer
# reads it as it comes; it stops only while Deepgram reconnects (backoff 0.1 + 0.2 + 0.4 + 0.8 +
# 1.6 = 3.1 s over 5 attempts, plus their handshakes), and that audio must survive to be replayed.
# Past that the recognizer is gone (a deaf call) or the caller floods us faster than real time:
# the oldest frames are dropped, so memory stays flat and the newest audio is what gets heard.
AUDIO_QUEUE_FRAMES = 500
# The caller's last 3 s (150 frames of 20 ms, 24 kB): how their voice ended is measured on the
# last 2 s of it up to their last sound, and a turn ends 150-400 ms after that sound.
RECENT_FRAMES = 150


@dataclass(frozen=True)
class Heard:
    """One recognizer event, read for turn-taking."""

    event: TranscriptEvent
    words: bool  # it carries text
    meaningful: bool  # ...and the text is more than a backchannel
    closed: bool  # the recognizer is done with this utterance (endpoint or utterance end)
    turn: CallerTurn | None  # a whole caller turn ended with it

    @property
    def speech_started(self) -> bool:
        return self.event.kind == "speech-started"

    @property
    def resumed(self) -> bool:
        """The recognizer withdrew its tentative turn end: the caller went on (Flux)."""
        return self.event.kind == "turn-resumed"


class VoiceChange(Enum):
    STARTED = "started"  # the caller began a sound (voice activity onset)
    ENDED = "ended"  # ...and it ended: quiet for the voice activity's hangover


class Ear:
    def __init__(self, stt: SpeechToText, *, backchannels: frozenset[str] = DEFAULT_BACKCHANNELS,
                 vad: VadSettings | None = None,
                 on_dropped: Callable[[int], None] | None = None) -> None:
        """`on_dropped(frames)`: once per episode of dropped audio (see `NewestAudio`)."""
        self._stt = stt
        self._backchannels = backchannels
        self.vad = VoiceActivity(vad)
        self._audio = NewestAudio(AUDIO_QUEUE_FRAMES, on_dropped)
        self._turns = TurnDetector()
        self._deaf = False
        self.frames_unheard = 0  # caller audio no recognizer was left to read (a deaf call)
        self._recent: deque[bytes] = deque(maxlen=RECENT_FRAMES)

    def hear(self, mulaw: bytes, now: float) -> VoiceChange | None:
        """One inbound frame; says when the caller's sound starts or ends."""
        self._recent.append(mulaw)
        if self._deaf:
            self.frames_unheard += 1
        else:
            self._audio.put_nowait(mulaw)
        was_talking = self.vad.voiced
        if self.vad.frame(mulaw, now):
            return VoiceChange.STARTED
        return VoiceChange.ENDED if was_talking and not self.vad.voiced else None

    async def voice_ending(self) -> Ending:
        """How the caller's voice ended, over the last seconds: once per candidate turn end,
        never per frame. On a worker thread: it is 1-3 ms of numpy FFTs on a quiet core and 5-20
        ms on a busy one (a slow-callback trace at 50 calls with the console), all of it a stall
        of the loop every call's audio shares; numpy lets go of the GIL while it computes."""
        return (await asyncio.to_thread(ending_of, b"".join(self._recent))).ending

    def close(self) -> None:
        self._audio.put_nowait(None)
        self._audio.report()  # frames dropped in an episode that never ended

    @property
    def frames_waiting(self) -> int:
        """Caller frames the recognizer has not read yet (at most AUDIO_QUEUE_FRAMES)."""
        return self._audio.qsize()

    @property
    def frames_dropped(self) -> int:
        """Caller frames dropped because the recognizer fell behind, over the whole call."""
        return self._audio.dropped

    def deafen(self) -> None:
        """The recognizer is gone for good: drop the caller's audio (counted) from now on, and
        what waits for it, instead of queueing it for nobody. The voice activity still hears."""
        self._deaf = True
        while not self._audio.empty():
            self.frames_unheard += self._audio.get_nowait() is not None

    async def listen(self) -> AsyncIterator[Heard]:
        """Run the recognizer over the call's audio. Raises what the recognizer raises."""
        async for event in self._stt.stream(AudioQueueReader(self._audio)):
            yield self.read(event)

    def read(self, event: TranscriptEvent) -> Heard:
        text = event.text.strip() if event.kind in ("interim", "final") else ""
        closed = event.speech_final or event.kind == "utterance-end"
        return Heard(event, words=bool(text),
                     meaningful=bool(text) and not self.is_backchannel(text),
                     closed=closed, turn=self._turns.feed(event))

    @property
    def detects_turns(self) -> bool:
        """The recognizer ends turns itself (Flux): never finalize on our own silence measure."""
        return bool(getattr(self._stt, "detects_turns", False))

    def finalize(self) -> None:
        """Ask the recognizer to say now what the last sound was, if it can."""
        if (finalize := getattr(self._stt, "finalize", None)) is not None:
            finalize()

    def is_backchannel(self, text: str) -> bool:
        return is_backchannel(text, self._backchannels)
