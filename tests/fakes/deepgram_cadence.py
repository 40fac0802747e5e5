"""When the fake Deepgram says what: the timing of `SpeechStarted` and interim `Results`.

Everything is counted from an utterance's *onset* (the start of its first speech frame) on the
socket's audio timeline (bytes received / 8000), never on the wall clock, so audio sent faster
than real time gets the same messages at the same audio positions.

Where the numbers of the "realistic" preset come from. "D:" is a page of Deepgram's documentation
(https://developers.deepgram.com/docs/<page>); "O:" is an observation of the live service that
the documentation does not state (from our issue on the fake being kinder than the service):

- `SpeechStarted` 100-200 ms after the onset (O). D: speech-started says only that the VAD gives
  "immediate notification" of speech once `vad_events=true`; the message's `timestamp` is where
  speech began, which is why the fake sends the onset there and not the moment it noticed.
- The first interim 0.6-1.0 s after the onset, holding 0 or 1 words (O).
- Then an interim every 0.8-1.0 s. D: utterance-end says "Interim Results are typically sent
  every second", and the transcript printed in D: using-interim-results has its interims 1.0 s
  apart (1.1, 2.1, 3.1 s ...). The spread below one second is O.
- Each later interim holds 1-3 more words than the one before: a conversational ~150 words a
  minute is 2.5 words a second. The example in D: using-interim-results grows by 1-4 words per
  interim.

The "eager" preset is the fake as it was before this module: `SpeechStarted` on the first speech
frame and an interim after every 10 speech frames (200 ms) revealing one more word. It suits
tests whose subject is not turn-taking timing (a socket replay, TTS) and would only be slowed by
realistic timing.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

FRAME_S = 0.020  # the fake hears audio in 20 ms frames, so every delay is a whole number of them


@dataclass(frozen=True)
class Cadence:
    """Ranges are (low, high) and inclusive; each draw is uniform over the whole 20 ms frames in
    the range, from the connection's own seeded generator (see `connection_rng`)."""

    speech_started_delay_s: tuple[float, float]
    """Onset -> `SpeechStarted` (only with vad_events=true)."""
    first_interim_delay_s: tuple[float, float]
    """Onset -> the first interim (only with interim_results=true)."""
    interim_interval_s: tuple[float, float]
    """One interim -> the next, while the utterance lasts."""
    first_interim_words: tuple[int, int]
    """Words of the scripted transcript the first interim reveals."""
    words_per_interim: tuple[int, int]
    """Words each later interim adds (a growing prefix, capped at the whole transcript)."""
    interim_clock: str = "audio"
    """"audio": interim delays run on the audio timeline from the onset, pauses included (the
    service's clock). "speech": only speech frames advance them (the old fake's rule)."""


CADENCES: dict[str, Cadence] = {
    "realistic": Cadence(
        speech_started_delay_s=(0.10, 0.20),
        first_interim_delay_s=(0.6, 1.0),
        interim_interval_s=(0.8, 1.0),
        first_interim_words=(0, 1),
        words_per_interim=(1, 3),
    ),
    "eager": Cadence(
        speech_started_delay_s=(0.0, 0.0),
        first_interim_delay_s=(0.2, 0.2),
        interim_interval_s=(0.2, 0.2),
        first_interim_words=(1, 1),
        words_per_interim=(1, 1),
        interim_clock="speech",
    ),
}


def connection_rng(seed: int, connection: int) -> random.Random:
    """One generator per listen socket, so a run is deterministic whatever order sockets come in
    (1_000_003 is a prime that keeps seed and connection index from colliding)."""
    return random.Random(seed * 1_000_003 + connection)


def draw_frames(rng: random.Random, span_s: tuple[float, float]) -> int:
    """A whole number of 20 ms frames within `span_s` (1e-9 absorbs float error: 0.6 s is 30)."""
    low = math.ceil(span_s[0] / FRAME_S - 1e-9)
    high = math.floor(span_s[1] / FRAME_S + 1e-9)
    return rng.randint(low, max(low, high))
