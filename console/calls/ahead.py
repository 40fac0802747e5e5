"""Speech made ahead: a gated reply's sentences are synthesized while the operator reads them, so
an approval finds the audio ready instead of starting the TTS then.

Nothing of it reaches the caller unless the reply is approved (the reply plays it then, sentence
by sentence, as it would have played the TTS); an edit or a rejection throws it away. One TTS
stream, one sentence at a time, in order: a speak socket takes one text at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from console.calls.sentences import SentenceChunker
from console.calls.tasks import TaskOwner, cancel_and_wait
from console.providers.base import ProviderError, TextToSpeech


class _Speech:
    """One sentence's audio as it arrives."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.chunks: list[bytes] = []
        self.done = False
        self.error: ProviderError | None = None
        self.changed = asyncio.Event()

    async def stream(self) -> AsyncIterator[bytes]:
        """Every chunk, those made already at once, then the rest as they come."""
        sent = 0
        while True:
            self.changed.clear()
            while sent < len(self.chunks):
                sent += 1
                yield self.chunks[sent - 1]
            if self.error is not None:
                raise self.error
            if self.done:
                return
            await self.changed.wait()


class SpeechAhead:
    def __init__(self, tts: TextToSpeech, tasks: TaskOwner) -> None:
        self._tts = tts
        self._chunker = SentenceChunker()
        self.sentences: list[_Speech] = []
        self._queue: asyncio.Queue[_Speech | None] = asyncio.Queue()
        self._task = tasks.spawn("gate-speech-ahead", self._run())

    def feed(self, token: str) -> None:
        for sentence in self._chunker.feed(token):
            self._add(sentence)

    def finish(self) -> None:
        """The text is complete: its last words are a sentence too."""
        if (rest := self._chunker.flush()) is not None:
            self._add(rest)
        self._queue.put_nowait(None)

    async def discard(self) -> None:
        """Stop making speech nobody will hear (an edit, a rejection, the call moved on)."""
        await cancel_and_wait(self._task)

    def _add(self, text: str) -> None:
        speech = _Speech(text)
        self.sentences.append(speech)
        self._queue.put_nowait(speech)

    async def _run(self) -> None:
        while (speech := await self._queue.get()) is not None:
            try:
                async for chunk in self._tts.synthesize(speech.text):
                    speech.chunks.append(chunk)
                    speech.changed.set()
            except ProviderError as error:
                speech.error = error  # the reply reports it when it plays this sentence
            speech.done = True
            speech.changed.set()
