"""Deepgram Flux live speech-to-text (`/v2/listen`): a recognizer that ends turns itself.

Flux reports turns, not segments (PROTOCOLS.md 2.3): `StartOfTurn`, an `Update` about every
0.25 s of audio, `EagerEndOfTurn` when it is moderately sure the caller is done, `TurnResumed`
when they went on after all, and `EndOfTurn`. They become TranscriptEvents (base.py):

    StartOfTurn     -> speech-started
    Update          -> interim, whole_turn (empty or unchanged transcripts are dropped)
    EagerEndOfTurn  -> final, speech_final, tentative, whole_turn (prepare a reply, do not play)
    TurnResumed     -> turn-resumed (drop the prepared reply)
    EndOfTurn       -> final, speech_final, whole_turn (even with no text)

The socket handling (replay across drops, reconnect budget) is listen.py's, shared with
Nova. Audio up to an `EndOfTurn`'s `audio_window_end` is settled: a drop replays only the turn in
progress. A fatal `Error` message ends the socket like a drop does (it is retried within the same
budget); a `Warning` is logged. Raises ProviderError for a refused key, a rejected request (bad
thresholds are refused at the handshake), or when `reconnect_attempts` reconnects failed.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from typing import Any

from deepgram.listen.v2.socket_client import AsyncV2SocketClient

from console.providers.base import TranscriptEvent
from console.providers.deepgram.client import SAMPLE_RATE
from console.providers.deepgram.listen import Dropped, ListenSTT, Settled, kind_of

log = logging.getLogger(__name__)

PROVIDER = "deepgram-flux"
MODEL = "flux-general-en"
# Flux has no KeepAlive message (the 7.17 SDK sends none for v2); while the caller's audio pauses
# it gets 80 ms of mu-law silence instead, the chunk size Deepgram recommends for Flux.
KEEPALIVE_SILENCE = b"\xff" * (SAMPLE_RATE * 80 // 1000)


class DeepgramFluxSTT(ListenSTT):
    """Flux over `/v2/listen`, mu-law 8 kHz forwarded unchanged, eager end-of-turn on.
    `eot_threshold` (0.5-1.0) is the confidence EndOfTurn needs, `eager_eot_threshold`
    (0.3-0.9, <= eot_threshold) EagerEndOfTurn's, and `eot_timeout_ms` the silence after which
    a turn ends whatever the confidence. Connection knobs (keepalive_s, reconnect_attempts,
    backoff...) are `ListenSTT`'s."""

    provider = PROVIDER
    detects_turns = True  # the call never finalizes on its own silence measure (base.py)
    keepalive_audio = KEEPALIVE_SILENCE

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        model: str = MODEL,
        eot_threshold: float = 0.7,
        eager_eot_threshold: float = 0.5,
        eot_timeout_ms: int = 5000,
        **connection: Any,
    ) -> None:
        super().__init__(api_key, base_url, **connection)
        self.model = model
        self.eot_threshold = eot_threshold
        self.eager_eot_threshold = eager_eot_threshold
        self.eot_timeout_ms = eot_timeout_ms

    def connect_options(self) -> dict[str, Any]:
        return {
            "model": self.model, "encoding": "mulaw", "sample_rate": SAMPLE_RATE,
            "eot_threshold": self.eot_threshold, "eager_eot_threshold": self.eager_eot_threshold,
            "eot_timeout_ms": self.eot_timeout_ms,
        }  # fmt: skip

    def connect(self) -> AbstractAsyncContextManager[AsyncV2SocketClient]:
        # The SDK leaves its `listen` property unannotated: this is what v2.connect declares.
        socket: AbstractAsyncContextManager[AsyncV2SocketClient] = self.client().listen.v2.connect(
            **self.connect_options())
        return socket

    def translator(self, settled: Settled) -> _FluxTranslator:
        return _FluxTranslator(settled)

    async def request_final(self, conn: Any) -> None:
        """`ForceEndTurn`: end the turn in progress now, on what was heard so far. Only used to
        settle a barge-in verdict quickly; Flux ignores it when no turn is in progress."""
        await conn.send_force_end_turn()


class _FluxTranslator:
    def __init__(self, settled: Settled) -> None:
        self._settled = settled
        self._shown = ""  # the last interim text, so a repeated Update says nothing new

    def event(self, message: Any, at: float) -> TranscriptEvent | None:
        kind = kind_of(message)
        if kind == "TurnInfo":
            return self._turn_info(message, at)
        if kind == "Warning":
            log.warning(
                "Deepgram Flux warning %s: %s",
                _field(message, "code"),
                _field(message, "description"),
            )
        elif kind == "ConfigureFailure":
            log.warning("Deepgram Flux refused a Configure: %s", _field(message, "description"))
        elif kind == "Error":
            code, description = _field(message, "code"), _field(message, "description")
            raise Dropped(f"Deepgram error {code}: {description}")
        return None

    def _turn_info(self, message: Any, at: float) -> TranscriptEvent | None:
        event = _field(message, "event")
        text = _field(message, "transcript").strip()
        if event == "StartOfTurn":
            return TranscriptEvent("speech-started", at=at)
        if event == "Update":
            if not text or text == self._shown:
                return None
            self._shown = text
            return TranscriptEvent("interim", text, at=at, whole_turn=True)
        if event == "EagerEndOfTurn":
            self._shown = text  # an Update repeating it says nothing new
            return TranscriptEvent("final", text, True, at=at, tentative=True, whole_turn=True)
        if event == "TurnResumed":
            return TranscriptEvent("turn-resumed", at=at)
        if event == "EndOfTurn":
            self._shown = ""
            self._settled(float(_field(message, "audio_window_end") or 0.0))
            # With no text it still closes the turn: "that sound had no words".
            return TranscriptEvent("final", text, True, at=at, whole_turn=True)
        return None  # an event this code does not know: Flux's list may grow


def _field(message: Any, name: str) -> Any:
    """A field of a parsed message or of a raw dict (the SDK hands out a dict it cannot parse)."""
    value = message.get(name) if isinstance(message, dict) else getattr(message, name, None)
    return "" if value is None else value
