"""One agent utterance in flight: tokens -> chunks -> speech -> paced frames.

A chunk is the reply's first clause ("Sure,"), then one sentence at a time (sentences.py). The LLM
and the TTS run concurrently: while one chunk is being spoken the LLM is already writing the next.
Cancelling the task that runs `play` stops both, mid-token or mid-frame. A reply can be held (the
caller spoke over it): the LLM and the TTS keep going, their audio is kept instead of queued, and
`release()` queues it again from the first sentence the caller did not hear in full.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from console.calls.metrics import TurnClock
from console.calls.pacing import Pacer
from console.calls.playback import Segment, SpokenLog
from console.calls.sentences import SentenceChunker
from console.providers.base import ProviderError, TextToSpeech
from console.providers.queues import Inbox

log = logging.getLogger(__name__)

_mark_ids = itertools.count(1)

# Sentences the LLM has written and the TTS has not taken yet. A reply is capped at 200 tokens
# (groq_llm's max_tokens), about 20 sentences at most, so a reply never waits here and the triage
# gate sees each token as soon as it streams. A model that ignores the cap is paused at 32
# (backpressure: nothing it wrote is lost) instead of filling memory.
SENTENCES_AHEAD = 32

# Returns False to stop the reply at once (the triage monitor found a trigger in the tokens).
TokenGate = Callable[[str], bool]


class AgentReply:
    def __init__(
        self,
        *,
        tts: TextToSpeech,
        pacer: Pacer,
        clock: TurnClock,
        gate: TokenGate | None = None,
        on_sentence: Callable[[str], None] | None = None,
        on_tts_error: Callable[[str], None] | None = None,
        now: Callable[[], float] = time.monotonic,
        held: bool = False,
    ) -> None:
        self._tts = tts
        self._pacer = pacer
        self.clock = clock
        self._gate = gate or (lambda _token: True)
        self._on_sentence = on_sentence or (lambda _s: None)
        self._on_tts_error = on_tts_error or (lambda _p: None)
        self._now = now
        self.spoken = SpokenLog()
        self.fully_queued = False  # set by the owner once nothing more will be queued
        self.started_at = now()
        self.held = held
        self._heard_at_hold = ""
        self.resumes = 0
        self.has_audio = False
        self.on_first_audio: Callable[[], None] = lambda: None  # (a held reply becomes ready)

    # --- what is played ----------------------------------------------------------------------
    async def play_tokens(self, tokens: AsyncGenerator[str, None]) -> None:
        sentences: Inbox[str | None] = Inbox(SENTENCES_AHEAD)
        producer = asyncio.create_task(self._produce(tokens, sentences), name="reply-llm")
        try:
            while (sentence := await sentences.get()) is not None:
                await self.speak_sentence(sentence)
            await producer  # re-raise what the producer hit
        finally:
            producer.cancel()

    async def play_text(self, text: str) -> None:
        for sentence in _split(text):
            self.clock.stamp("first_sentence", self._now())
            await self.speak_sentence(sentence)

    def play_audio(self, text: str, mulaw: bytes) -> None:
        """Audio prepared ahead (the greeting): queued at once, no TTS round trip."""
        self.clock.stamp("first_sentence", self._now())
        self.clock.stamp("tts_first_byte", self._now())
        segment = self._begin(text)
        self._add_audio(segment, mulaw)
        self._finish_segment(segment)

    async def speak_sentence(self, sentence: str,
                             audio: AsyncIterator[bytes] | None = None) -> None:
        """Synthesize and play `sentence`; `audio`: its speech, already on its way (made ahead
        while a gated reply waited for approval)."""
        segment = self._begin(sentence)
        try:
            async for chunk in audio if audio is not None else self._tts.synthesize(sentence):
                self.clock.stamp("tts_first_byte", self._now())
                self._add_audio(segment, chunk)
        except ProviderError as error:
            log.warning("TTS failed for a sentence: %s", error)
            self._on_tts_error(str(error))
        self._finish_segment(segment)

    # --- hold and release --------------------------------------------------------------------
    def hold(self, frames_played: int) -> None:
        """The pacer was just cleared: keep the audio, queue nothing until `release()`."""
        if not self.held:
            self._heard_at_hold = self.spoken.heard_text(frames_played)
        self.held = True
        self.spoken.rewind(frames_played)

    def release(self) -> None:
        """Queue again, from its first word, every sentence the caller has not heard in full."""
        if not self.held:
            return
        self.held = False
        self.resumes += 1
        for segment in self.spoken.unqueued():
            segment.first_frame = self._pacer.frames_enqueued
            segment.queued = True
            self._pacer.enqueue_audio(bytes(segment.audio))
            segment.end_frame = self._pacer.frames_enqueued
            if segment.complete:
                self._queue_mark(segment)

    def heard_text(self, frames_played: int) -> str:
        """What the caller heard: while held, what they had heard when the hold began."""
        return self._heard_at_hold if self.held else self.spoken.heard_text(frames_played)

    @property
    def audible(self) -> bool:
        """Some of its audio has been queued to the caller (and not held back since)."""
        return not self.held and any(s.queued and s.audio for s in self.spoken.segments)

    # --- internals ---------------------------------------------------------------------------
    def _begin(self, text: str) -> Segment:
        segment = self.spoken.begin(text, self._pacer.frames_enqueued, queued=not self.held)
        self._on_sentence(text)
        return segment

    def _add_audio(self, segment: Segment, chunk: bytes) -> None:
        segment.audio += chunk
        if not self.has_audio and chunk:
            self.has_audio = True
            self.on_first_audio()
        if segment.queued:
            self._pacer.enqueue_audio(chunk)
            segment.end_frame = self._pacer.frames_enqueued

    def _finish_segment(self, segment: Segment) -> None:
        segment.complete = True
        if segment.queued:
            self._queue_mark(segment)

    def _queue_mark(self, segment: Segment) -> None:
        segment.mark = f"seg-{next(_mark_ids)}"
        self._pacer.end_segment(segment.mark)
        segment.end_frame = self._pacer.frames_enqueued

    async def _produce(self, tokens: AsyncGenerator[str, None], out: Inbox[str | None]) -> None:
        chunker = SentenceChunker()
        try:
            async with contextlib.aclosing(tokens):  # closes the LLM stream if the gate trips
                async for token in tokens:
                    self.clock.stamp("llm_first_token", self._now())
                    if not self._gate(token):
                        return
                    for sentence in chunker.feed(token):
                        await self._emit(sentence, out)
            if (rest := chunker.flush()) is not None:
                await self._emit(rest, out)
        finally:
            out.put_final(None)

    async def _emit(self, sentence: str, out: Inbox[str | None]) -> None:
        # The stage keeps its name (stored call metrics, the TUI and the benches read it), but it
        # is the first *chunk*: the reply's first clause went to TTS, often before its first
        # sentence ended.
        self.clock.stamp("first_sentence", self._now())
        await out.put(sentence)


def _split(text: str) -> list[str]:
    """Known text by sentence: cutting its first clause off would gain no time, only a Flush."""
    chunker = SentenceChunker(first_clause=False)
    sentences = chunker.feed(text + " ")
    rest = chunker.flush()
    return sentences + ([rest] if rest else [])
