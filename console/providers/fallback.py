"""Providers that degrade instead of going silent: when the cloud engine fails, the local one
carries on, and the call is told (an operator-visible event)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from console.providers.base import (
    ProviderError,
    ProviderObserver,
    SpeechToText,
    TextToSpeech,
    TranscriptEvent,
)


class _Fallback:
    """A cloud engine and the local one that takes over when it fails; reports the cloud tier."""

    def __init__(
        self, primary: Any, secondary: Any, observer: ProviderObserver | None = None
    ) -> None:
        self.primary = primary
        self.secondary = secondary
        self.observer = observer
        self.tier = primary.tier

    def _tell(self, kind: str, error: ProviderError) -> None:
        if self.observer is not None:
            self.observer.degraded(kind, str(error), self._fallback_name(kind))

    def _fallback_name(self, kind: str) -> str:
        return f"{self.secondary.tier} {'voice' if kind == 'tts' else 'recognizer'}"


class FallbackTTS(_Fallback):
    primary: TextToSpeech
    secondary: TextToSpeech

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        produced = False
        try:
            async for chunk in self.primary.synthesize(text):
                produced = True
                yield chunk
            return
        except ProviderError as error:
            if produced:
                raise  # part of the sentence was already heard; repeating it would be worse
            self._tell("tts", error)
        async for chunk in self.secondary.synthesize(text):
            yield chunk

    async def prepare(self) -> None:
        prepare = getattr(self.primary, "prepare", None)
        if prepare is not None:
            await prepare()

    async def aclose(self) -> None:
        for engine in (self.primary, self.secondary):
            closer = getattr(engine, "aclose", None)
            if closer is not None:
                await closer()


class FallbackSTT(_Fallback):
    """Cloud recognition, and local recognition of the rest of the call if the cloud gives up
    (a revoked key, reconnects exhausted). The second recognizer reads on from the same audio
    iterator, which must survive a cancelled read: the session's `AudioQueueReader` (base.py)
    does; a plain async generator would be closed by it."""

    primary: SpeechToText
    secondary: SpeechToText

    async def stream(self, audio: AsyncIterator[bytes]) -> AsyncIterator[TranscriptEvent]:
        self._active = self.primary
        try:
            async for event in self.primary.stream(audio):
                yield event
            return
        except ProviderError as error:
            self._tell("stt", error)
        self._active = self.secondary
        async for event in self.secondary.stream(audio):
            yield event

    @property
    def detects_turns(self) -> bool:
        """Whether the recognizer listening now ends turns itself (Flux does; the local one,
        which takes over when the cloud gives up, does not)."""
        return bool(getattr(getattr(self, "_active", self.primary), "detects_turns", False))

    def finalize(self) -> None:
        """Forwarded to whichever recognizer is listening, if it can (Deepgram can)."""
        if (finalize := getattr(getattr(self, "_active", None), "finalize", None)) is not None:
            finalize()
