"""Shared by bench/midpause.py and bench/recordings.py: one caller who says one long clip of real
speech (with its own pauses) and then listens, the fake Deepgram that transcribes that clip by
audio position, and what the caller received, frame by frame.

The fake recogniser gives each utterance the words said in its own audio window
(tests/fakes/deepgram_positions.py), not the next line of a script: the server may cut the
caller's speech into utterances anywhere (a `Finalize` after 150 ms of quiet, the 300 ms
endpoint, a longer wait), and every cut must still give every word once, in its place.

`--stt flux` (both benches) starts the server with STT_ENGINE=flux. Today's server ignores it;
the Flux recogniser and the fake's Flux route are being added in parallel, and transcripts by
position reach a Flux socket only if that route asks the fake's `transcribe` hook for its words
as the nova recogniser does.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import ROOT, save_results  # noqa: F401 - ROOT sets sys.path for tests.*

from console.simulate.caller import CallerOptions, SimulatedCaller, Utterance
from tests import speech
from tests.fakes.deepgram_fake import FakeDeepgram, tts_audio
from tests.fakes.deepgram_positions import ClipTimeline

STT_ENGINES = ("nova", "flux")
FRAME_BYTES = 160
QUIET_S = 1.5  # the agent said something after the clip and has been quiet this long: done
NOTHING_S = 6.0  # ... or it said nothing at all this long after the clip (an error)
ANSWER_LIMIT_S = 30.0  # an agent that never goes quiet
GREETING_WAIT_S = 5.0


class PositionalDeepgram(FakeDeepgram):
    """The fake Deepgram, transcribing the clips of `timeline` where it hears them."""

    def __init__(self, timeline: ClipTimeline, **options: Any) -> None:
        super().__init__(transcribe=timeline.transcribe, **options)
        self.timeline = timeline

    async def _on_audio(self, ws: Any, rec: Any, data: bytes) -> bool:
        self.timeline.heard(rec.connection, self.listen_audio[rec.connection], data)
        return await super()._on_audio(ws, rec, data)


def server_env(deepgram: FakeDeepgram, groq: Any, workdir: str, stt: str) -> dict[str, str]:
    """Vendor URLs and keys; every turn-taking setting stays at its default."""
    env = {
        "DEEPGRAM_API_KEY": deepgram.api_key, "VOICECONSOLE_DEEPGRAM_BASE_URL": deepgram.base_url,
        "GROQ_API_KEY": groq.api_key, "VOICECONSOLE_GROQ_BASE_URL": groq.base_url,
        "VOICECONSOLE_DATA_DB": f"{workdir}/bench.db",
    }  # fmt: skip
    if stt == "flux":
        env["VOICECONSOLE_STT_ENGINE"] = "flux"
    return env


def inherited_settings() -> list[str]:
    """Server settings this shell's environment sets (the server inherits it)."""
    from console.config.names import VENDOR_NAMES

    ours = {"DEEPGRAM_API_KEY", "VOICECONSOLE_DEEPGRAM_BASE_URL", "GROQ_API_KEY",
            "VOICECONSOLE_GROQ_BASE_URL", "VOICECONSOLE_DATA_DB", "VOICECONSOLE_SERVER_PORT",
            "VOICECONSOLE_SERVER_HOST", "VOICECONSOLE_STT_ENGINE"}  # fmt: skip
    names = set(VENDOR_NAMES) | {name for name in os.environ if name.startswith("VOICECONSOLE_")}
    return sorted(name for name in names - ours if name in os.environ)


def trimmed(mulaw: bytes) -> bytes:
    """From the first voiced 10 ms frame to the end of the last (tests.speech's measure)."""
    spans = speech.voiced_spans(mulaw)
    if not spans:
        raise ValueError("no voiced frame")
    return mulaw[round(spans[0][0] * 8000) : round(spans[-1][1] * 8000)]


def longest_gap_ms(mulaw: bytes, speech_rms: float) -> int:
    """The longest run of 20 ms frames the fake recogniser takes for silence, inside the clip:
    one as long as its endpointing (300 ms) splits what the clip means as one utterance."""
    from tests.fakes.deepgram_fake import frame_rms

    loud = [frame_rms(mulaw[i : i + FRAME_BYTES]) > speech_rms
            for i in range(0, len(mulaw) - FRAME_BYTES + 1, FRAME_BYTES)]  # fmt: skip
    longest = run = 0
    for is_speech in loud:
        run = 0 if is_speech else run + 1
        longest = max(longest, run)
    return longest * 20


class AgentAudio:
    """Every frame the agent may have sent, by content: the fake TTS makes each text's audio
    unique noise, so a received frame names the text it is from and its place in it."""

    def __init__(self, texts: list[str], ms_per_char: float) -> None:
        self._ids: dict[bytes, tuple[str, int]] = {}
        for text in dict.fromkeys(texts):
            audio = tts_audio(text, ms_per_char)
            for index in range(len(audio) // FRAME_BYTES):
                frame = audio[index * FRAME_BYTES : (index + 1) * FRAME_BYTES]
                self._ids.setdefault(frame, (text, index))

    def identify(self, frame: bytes) -> tuple[str, int] | None:
        return self._ids.get(frame)


class ListeningCaller(SimulatedCaller):
    """Waits for the greeting, then `delay_s`, says `clip` in one go (its pauses are silence
    frames, as Twilio sends them), then streams silence until the agent has answered and gone
    quiet. An answer is agent audio after `spoken_s` into the clip (the end of its last words,
    default the whole clip). Keeps every frame it receives."""

    def __init__(self, url: str, clip: bytes, delay_s: float, label: str,
                 spoken_s: float | None = None) -> None:
        super().__init__(CallerOptions(url=url, keep_frames=True, greeting_timeout_s=
                                       GREETING_WAIT_S, max_call_s=180.0))  # fmt: skip
        self.clip, self.delay_s, self.label = clip, delay_s, label
        self.spoken_s = len(clip) / 8000 if spoken_s is None else spoken_s
        self.answer_errors: list[str] = []

    async def _script(self) -> None:
        await self._wait_reply(0.0, self.options.greeting_timeout_s, required=False)
        await asyncio.sleep(self.delay_s)  # the caller's own moment, not synchronisation
        end = await self._speak(0, Utterance(self.clip, wait_for_reply=False, label=self.label))
        spoken = self.log.speech[0]["start"] - 0.020 + self.spoken_s
        if not await self._wait(lambda: self._done(end, spoken), ANSWER_LIMIT_S):
            self.answer_errors.append(f"the agent never went quiet within {ANSWER_LIMIT_S:.0f} s")
        elif self._last_arrival < spoken:
            self.answer_errors.append(f"no agent audio within {NOTHING_S:.0f} s of the last words")

    def _done(self, end: float, spoken: float) -> bool:
        now = self._elapsed()
        if self._last_arrival < spoken:
            return now - max(end, spoken) >= NOTHING_S
        quiet = now - max(end, self._last_arrival) >= QUIET_S
        return quiet and self.playout.idle(self._now_sample())

    def clip_frame_times(self) -> list[float]:
        """When each frame of the clip was sent (seconds since the call started). A frame sent
        at t carries the 20 ms of audio before t, as Twilio's do."""
        start = self.log.speech[0]["start"]
        first = bisect.bisect_left(self.log.sent_at, start)
        count = -(-len(self.clip) // FRAME_BYTES)
        return self.log.sent_at[first : first + count]


@dataclass(frozen=True)
class Received:
    """One agent frame as the caller got it."""

    at: float  # seconds since the call started
    text: str | None  # the TTS text it is from (None: not a frame the fake TTS made)
    index: int  # its place in that text's audio


def received(caller: SimulatedCaller, agent: AgentAudio) -> list[Received]:
    out = []
    for at, frame in zip(caller.log.received_at, caller.received_frames, strict=True):
        found = agent.identify(frame)
        out.append(Received(at, *(found if found else (None, -1))))
    return out


def played_ms(caller: SimulatedCaller, start: float, end: float) -> int:
    """Agent audio the caller's speaker played between `start` and `end` (seconds since the call
    started), in whole 20 ms frames: `playout.heard` is silence where nothing played, and audio
    a clear dropped before it played is not in it. (The fake TTS's noise never holds a frame of
    mu-law silence.)"""
    heard = bytes(caller.playout.heard)
    low, high = int(start * 8000) // FRAME_BYTES, -(-int(end * 8000) // FRAME_BYTES)
    frames = (heard[i * FRAME_BYTES : (i + 1) * FRAME_BYTES] for i in range(low, high))
    return 20 * sum(1 for f in frames if f and f.count(0xFF) < len(f))


def add_call_options(parser: argparse.ArgumentParser, bench: str, *, concurrency: int,
                     concurrency_help: str) -> None:
    """The options both speech benches take: calls at once, recognizer, output, cores."""
    parser.add_argument("--concurrency", type=int, default=concurrency, help=concurrency_help)
    parser.add_argument("--stt", choices=STT_ENGINES, default="nova",
                        help="flux: the server gets STT_ENGINE=flux (see bench/speech_calls.py)")
    parser.add_argument("--json-out", type=Path, help="write the JSON here "
                        f"(default: bench/results/{bench}-<time>.json)")
    parser.add_argument("--shared-cores", action="store_true",
                        help="let the server, fakes and callers share every core")


def save_and_print(bench: str, result: dict[str, Any], json_out: Path | None,
                   headline: dict[str, Any]) -> None:
    """Save the JSON, print it, and put the headline and where it went on stderr."""
    path = save_results(bench, result, json_out)
    print(json.dumps(result, indent=2))
    print(json.dumps(headline), file=sys.stderr)
    print(f"saved {path}", file=sys.stderr)
