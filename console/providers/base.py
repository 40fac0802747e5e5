"""The three streaming contracts every speech and language provider implements.

Cloud and local providers, and the test fakes behind them, all pass one shared contract suite.
Nothing here imports a vendor SDK.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

TranscriptKind = Literal["interim", "final", "speech-started", "utterance-end", "turn-resumed"]


@dataclass(frozen=True)
class TranscriptEvent:
    """One thing the recognizer noticed.

    `final` segments never change. `speech_final` marks the end of an utterance (endpointing);
    `utterance-end` is the silence-based backstop when no speech_final arrived.

    Recognizers that detect turns themselves (Deepgram Flux) say more:
    - `tentative`: on a `speech_final` final, the turn has probably ended (Flux's EagerEndOfTurn):
      prepare a reply, do not play it yet. A later non-tentative `speech_final` final with the
      same text confirms it; `turn-resumed` withdraws it (the caller went on).
    - `whole_turn`: `text` is the whole turn so far, replacing earlier finals of the turn
      (Flux reports turns, not segments).
    """

    kind: TranscriptKind
    text: str = ""
    speech_final: bool = False
    at: float = 0.0  # monotonic seconds when the provider received it
    tentative: bool = False
    whole_turn: bool = False


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


class ProviderError(Exception):
    """A provider failed in a way the caller of the contract should handle (fallback, apology)."""


class SpeechToText(Protocol):
    """A recognizer may also offer `finalize()`: return the final for the audio so far now,
    closing the utterance (Deepgram's `Finalize`). Callers look for it with getattr.

    One that sets `detects_turns = True` (Flux) ends turns itself, tentatively and then for
    sure; the caller then never finalizes on its own silence measure, except to settle a
    barge-in verdict."""

    tier: str  # "cloud" | "local"

    def stream(self, audio: AsyncIterator[bytes]) -> AsyncIterator[TranscriptEvent]:
        """Consume 8 kHz mu-law audio, yield transcript events until the audio ends.
        A `final` with `speech_final` closes an utterance, even with no text (it was noise).
        Raises ProviderError when it cannot recover."""
        ...


class LanguageModel(Protocol):
    tier: str  # "cloud" | "local" | "scripted"

    def reply(
        self, messages: Sequence[ChatMessage], observer: ProviderObserver | None = None
    ) -> AsyncIterator[str]:
        """Yield reply tokens. Cancelling the consumer stops generation. `observer` hears what
        the reply cost and any fallback (the session passes the call).
        Raises ProviderError when every model it may use failed."""
        ...


class TextToSpeech(Protocol):
    tier: str

    def synthesize(self, text: str) -> AsyncIterator[bytes]:
        """Yield 8 kHz mu-law audio (any chunk size) for `text`. Cancellable.
        Raises ProviderError when no audio can be made."""
        ...


class ProviderObserver(Protocol):
    """How a provider tells its call what it cost and when it fell back. Optional everywhere:
    providers accept `observer=None` and then stay quiet.

    Where it is given follows who owns the provider: a recognizer and a voice are made per call,
    so every SpeechToText and TextToSpeech takes `observer=` when it is built; a language model
    is shared by every call of the process, so `LanguageModel.reply` takes it with each reply."""

    def degraded(self, provider: str, problem: str, fallback: str) -> None: ...

    def usage(
        self, *, llm_tokens: int = 0, tts_characters: int = 0, stt_seconds: float = 0.0
    ) -> None: ...


class AudioQueueReader:
    """An async iterator over a queue of audio chunks, ending at None. Unlike an async
    generator, a read cancelled half-way loses nothing and leaves it usable, so a second
    consumer can take over where the first stopped (and no relay task is needed per frame)."""

    def __init__(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._queue = queue
        self._ended = False

    def __aiter__(self) -> AudioQueueReader:
        return self

    async def __anext__(self) -> bytes:
        if self._ended:
            raise StopAsyncIteration
        chunk = await self._queue.get()
        if chunk is None:
            self._ended = True
            raise StopAsyncIteration
        return chunk

    async def read_batch(self, limit_bytes: int) -> bytes | None:
        """Everything queued (up to about `limit_bytes`) as one chunk; None once the audio has
        ended. A consumer that keeps up gets one chunk at a time, with no added delay; one that
        was kept waiting (a busy loop) gets what piled up meanwhile in one piece, so it can send
        one message where it would have sent several. Cancel-safe like iteration."""
        if self._ended:
            return None
        chunks, size = [], 0
        chunk = await self._queue.get()
        while True:
            if chunk is None:
                self._ended = True
                break
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit_bytes or self._queue.empty():
                break
            chunk = self._queue.get_nowait()
        return b"".join(chunks) if chunks else None
