"""Deepgram Nova live speech-to-text (`/v1/listen`): Twilio mu-law in, `TranscriptEvent`s out.

The socket handling (replay across drops, keep-alive, reconnect budget) is listen.py's;
this module says how Nova is asked and what its `Results` mean. Raises ProviderError for a
refused key, a rejected request, or when `reconnect_attempts` reconnects in a row failed.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from typing import Any

from deepgram.listen.v1.socket_client import AsyncV1SocketClient

from console.providers.base import TranscriptEvent
from console.providers.deepgram.client import SAMPLE_RATE
from console.providers.deepgram.listen import ListenSTT, Settled, kind_of

log = logging.getLogger(__name__)

PROVIDER = "deepgram-stt"
# What of a profile's `redact` Nova can do itself, live (Deepgram's redaction docs: `pci`, card
# numbers with expiry and CVV; `ssn`). Dates of birth only come with `numbers`, which would also
# hide the callback numbers and times the agent needs, and keypad digits are never transcribed.
# Flux (/v2/listen) offers number redaction only (`pci`/`ssn` are refused with 400), so nothing
# is asked of it: there the store's own redaction is all.
NOVA_REDACT = {"card": "pci", "ssn": "ssn"}


def nova_redact(kinds: Collection[str]) -> tuple[str, ...]:
    """The `redact` options for a profile's kinds, in the order of NOVA_REDACT."""
    return tuple(option for kind, option in NOVA_REDACT.items() if kind in kinds)


class DeepgramSTT(ListenSTT):
    """Nova-2 over `/v1/listen`: mu-law 8 kHz forwarded unchanged, interim results, endpointing,
    utterance-end and VAD events. One instance may serve many `stream()` calls in turn.
    Connection knobs (keepalive_s, reconnect_attempts, backoff...) are `ListenSTT`'s."""

    provider = PROVIDER
    last_message = "Metadata"  # Nova's last message after CloseStream

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        model: str = "nova-2",
        endpointing_ms: int = 300,
        utterance_end_ms: int = 1000,
        language: str | None = None,
        redact: Collection[str] = (),
        **connection: Any,
    ) -> None:
        """`redact`: Deepgram's own options (`nova_redact`): it hides those in every transcript,
        so the words never reach this process at all."""
        super().__init__(api_key, base_url, **connection)
        self.redact = tuple(redact)
        self.model = model
        self.endpointing_ms = endpointing_ms
        self.utterance_end_ms = utterance_end_ms
        self.language = language

    def connect_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "model": self.model, "encoding": "mulaw", "sample_rate": SAMPLE_RATE, "channels": 1,
            "interim_results": True, "endpointing": self.endpointing_ms,
            "utterance_end_ms": self.utterance_end_ms, "vad_events": True,
            "smart_format": True, "punctuate": True,
        }  # fmt: skip
        if self.language:
            options["language"] = self.language
        if self.redact:
            options["redact"] = list(self.redact)  # the SDK repeats the key: redact=pci&redact=ssn
        return options

    def connect(self) -> AbstractAsyncContextManager[AsyncV1SocketClient]:
        # The SDK leaves its `listen` property unannotated: this is what v1.connect declares.
        socket: AbstractAsyncContextManager[AsyncV1SocketClient] = self.client().listen.v1.connect(
            **self.connect_options())
        return socket

    def translator(self, settled: Settled) -> _NovaTranslator:
        return _NovaTranslator(settled)

    async def request_final(self, conn: Any) -> None:
        """`Finalize`: the final of the audio sent so far, now, instead of at the endpoint."""
        await conn.send_finalize()


class _NovaTranslator:
    def __init__(self, settled: Settled) -> None:
        self._settled = settled

    def event(self, message: Any, at: float) -> TranscriptEvent | None:
        kind = kind_of(message)
        if kind == "Results":
            return self._results(message, at)
        if kind == "SpeechStarted":
            return TranscriptEvent("speech-started", at=at)
        if kind == "UtteranceEnd":
            return TranscriptEvent("utterance-end", at=at)
        if kind == "Error":
            log.warning("Deepgram STT error: %s", getattr(message, "description", ""))
        return None

    def _results(self, message: Any, at: float) -> TranscriptEvent | None:
        final = bool(getattr(message, "is_final", False))
        if final:
            self._settled(float(getattr(message, "start", 0) or 0) + float(message.duration or 0))
        text = _transcript(message)
        # A final forced by Finalize closes the utterance as an endpoint would: we asked because
        # the caller went quiet.
        closes = final and bool(message.speech_final or getattr(message, "from_finalize", False))
        if not text and not closes:
            return None  # Deepgram sends many empty results; they carry no words
        if final:  # an empty one that closes says "that sound had no words" (a cough)
            return TranscriptEvent("final", text, closes, at=at)
        return TranscriptEvent("interim", text, at=at)


def _transcript(message: Any) -> str:
    try:
        return str(message.channel.alternatives[0].transcript or "").strip()
    except (AttributeError, IndexError, TypeError):
        return ""
