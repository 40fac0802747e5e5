"""Speech that degrades instead of going silent: when the primary TTS cannot speak a sentence,
the secondary (local) engine speaks it, and the call is told."""

from __future__ import annotations

from collections.abc import AsyncIterator

from console.providers.base import ProviderError, ProviderObserver, TextToSpeech


class FallbackTTS:
    def __init__(
        self,
        primary: TextToSpeech,
        secondary: TextToSpeech,
        observer: ProviderObserver | None = None,
    ) -> None:
        self.primary = primary
        self.secondary = secondary
        self.observer = observer
        self.tier = primary.tier

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
            if self.observer is not None:
                self.observer.degraded("tts", str(error), f"{self.secondary.tier} voice")
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
