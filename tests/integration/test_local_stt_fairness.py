"""Calls share the local recognizer's one decode thread fairly: a call that floods it with
utterances neither makes another call wait behind its backlog nor builds one of its own.

The recognizer's real scheduling runs (gate, per-call backlog, the shared decode thread); only the
decode itself is replaced, at `local_stt.decode_pcm`, by a fixed-time stand-in that says whose
audio it was given (call A speaks at -30 dBFS, call B at -10 dBFS).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from console.audio_codec import FRAME_BYTES, pcm16_to_mulaw, silence
from console.providers.local import stt as local_stt
from console.providers.local.stt import LocalWhisperSTT
from console.providers.utterance_backlog import MAX_WAITING

DECODE_S = 0.03
FLOOD = 50  # utterances call A sends at once


def tone(ms: int, dbfs: float) -> bytes:
    t = np.arange(8 * ms) / 8000
    amplitude = 32768 * 10 ** (dbfs / 20) * np.sqrt(2)
    return pcm16_to_mulaw((amplitude * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes())


class Decodes:
    """The decode thread's log: (whose audio, when the decode started)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, float]] = []

    def __call__(self, pcm: bytes) -> str:
        peak = np.abs(np.frombuffer(pcm, dtype="<i2")).max()
        whose = "B" if peak > 32768 * 10 ** (-20 / 20) else "A"
        self.log.append((whose, time.perf_counter()))
        time.sleep(DECODE_S)
        return f"call {whose} spoke"

    def started(self, whose: str) -> list[float]:
        return [at for who, at in self.log if who == whose]


@pytest.fixture
def decodes(monkeypatch) -> Decodes:
    fake = Decodes()
    monkeypatch.setattr(local_stt, "decode_pcm", fake)
    return fake


async def frames(mulaw: bytes, said: list[float] | None = None) -> AsyncIterator[bytes]:
    for start in range(0, len(mulaw), FRAME_BYTES):
        yield mulaw[start : start + FRAME_BYTES]
    if said is not None:
        said.append(time.perf_counter())  # every utterance is with the gate now


async def finals(stt: LocalWhisperSTT, audio: AsyncIterator[bytes]) -> list[str]:
    return [event.text async for event in stt.stream(audio) if event.kind == "final"]


FLOODING = silence(300) + (tone(200, -30) + silence(500)) * FLOOD
QUIET = silence(300) + tone(600, -10) + silence(500)


class Told(list[str]):
    def degraded(self, provider: str, problem: str, fallback: str) -> None:
        self.append(f"{provider}: {problem} -> {fallback}")

    def usage(self, **_amounts: float) -> None:
        pass


async def test_a_quiet_calls_utterance_waits_for_at_most_one_decode_of_a_flooding_call(decodes):
    stt_a, stt_b = LocalWhisperSTT(), LocalWhisperSTT()
    flood = stt_a.stream(frames(FLOODING))
    async for event in flood:  # until A's first decode is done: its whole flood is waiting
        if event.kind == "final":
            break
    said: list[float] = []
    quiet = await finals(stt_b, frames(QUIET, said))
    rest = [event.text async for event in flood if event.kind == "final"]
    assert quiet == ["call B spoke"] and rest
    b_started = decodes.started("B")[0]
    a_between = [at for at in decodes.started("A") if said[0] < at < b_started]
    assert len(a_between) <= 1, f"B waited for {len(a_between)} of A's decodes"


async def test_a_flooding_call_gets_its_newest_speech_decoded_within_a_few_decodes(decodes):
    told = Told()
    texts = await finals(LocalWhisperSTT(observer=told), frames(FLOODING))
    assert len(decodes.log) <= MAX_WAITING + 1, f"{len(decodes.log)} decodes for one flood"
    assert texts and all(text == "call A spoke" for text in texts)
    assert len(told) == 1 and "dropped" in told[0]  # once for the episode, not per utterance
