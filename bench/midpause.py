"""Mid-sentence-pause bench: does an agent that answers sooner talk over a caller who pauses to
think in the middle of a sentence?

    python bench/midpause.py [--trials 20] [--seed 7] [--concurrency 4] [--stt nova|flux]
                             [--fragments whole|alone] [--json-out PATH]

JSON goes to stdout and to --json-out (default bench/results/midpause-<time>.json); a headline
to stderr.

Each trial is one call against the real server (`voiceconsole serve` in its own process, on a
core of its own) with the loopback fakes (Deepgram: realistic cadence, TTS first byte 80 ms,
60 ms of audio a character; Groq: first token 150 ms, 200 tokens/s). After the greeting and a
seeded wait, the caller says a fragment that stops mid-sentence ("I'd like to book a cleaning
for"), pauses 600 ms (silence frames, as Twilio sends them), finishes the sentence ("Friday
evening at seven"), then streams silence until the agent has answered and been quiet for 1.5 s.
Speech is espeak-ng at a seeded 150-180 words a minute.

How the fragment sounds (--fragments): `whole` (the default) renders the whole sentence once and
cuts it where espeak starts the rest's first word (bench/fragments.py), so the fragment keeps the
pitch of a sentence that goes on, as a person's does when they stop to think mid-sentence: falls
to low go with turn ends, a level pitch with a speaker holding the turn (Gravano & Hirschberg
2011, "Turn-taking cues in task-oriented dialogue", Computer Speech and Language 25). `alone`
(the bench before 2026-12-05) renders the fragment as a line of its own, which espeak ends as a
finished sentence: a fall to the bottom of its voice, which no one pausing mid-sentence makes.
Checked with console/calls/prosody.py's pitch track (seeds 150 and 180 wpm, all 20 fragments):
the last 60 ms of voice of the conjunction, preposition and noun fragments sit at 77-84 Hz
`alone` and at 96-111 Hz `whole` (espeak's level is ~100 Hz); the comma and filler fragments are
the same either way (espeak gives a trailing comma its continuation rise alone too).

The fragments end on a conjunction, a preposition, a comma, a filler ("um,") or, the hard ones, on
a noun that a prepositional phrase then continues ("about my prescription" / "for blood
pressure pills"). The fake recogniser transcribes by audio position (bench/speech_calls.py):
with Finalize at the pause or with the 300 ms endpoint, the fragment and the rest are two
utterances, with their own words whatever else the server cuts.

Measured per trial at the caller (its receive timestamps, seconds since its call started):
- talked_over: an agent frame received while the caller spoke the rest, from the rest's first
  frame sent to its last (no margin). The greeting is over before the fragment begins, so every
  such frame is a reply (or a holding phrase) to the caller's words. `frames_over_rest` counts
  them; `played_over_rest_ms`: agent audio the caller's speaker played in that window (frames
  sent 100 ms ahead play after they arrive; a clear drops what had not played);
  `started_in_pause`: agent audio first arrived inside the 600 ms pause.
- answered_whole_sentence: the reply the caller heard last (FakeGroq's reply names its trial and
  request: "Trial 3 answer 2 is noted.") came from a request whose last user message holds both
  the fragment and the rest. A reply to the fragment alone that was heard, then cut by the rest,
  leaves the rest as a user message of its own: not the whole sentence.
- v2v_ms: the rest's last frame sent -> the first frame of a reply received after it.
- llm_requests: chat requests FakeGroq got for the trial (speculation costs requests);
  `llm_cancelled`: those the server hung up on before the end.
Over all trials: talked_over count (target: at most 1 of 20), answered_whole_sentence count,
v2v p50/p95, llm requests per trial, and the same per kind of fragment ending.

Baseline (the call code of a64ad8f, before answering sooner; seed 7, 4 calls at once, a quiet
2-core machine): talked over 20 of 20 (the fragment's 300 ms endpoint, then LLM and TTS: the
reply's first frame arrives 481-564 ms into the 600 ms pause, one frame of it arrives over the
rest and 60 ms of it plays before the clear); whole sentence answered 20 of 20 (the server
counted none of the cut reply as heard, so the rest joined the fragment's turn); v2v p50 561 ms,
p95 801 ms; 2.05 LLM requests a trial.

With the caller's pitch (VOICECONSOLE_TURNS_PROSODY_CUE=true, VOICECONSOLE_TURNS_LEVEL_HOLD_S=0.7;
console/calls/prosody.py), 2026-12-05,
seed 7, 4 calls at once, a shared 2-core machine (load 7-11 from other people's tests): whole
fragments, cue off: talked over 2 of 20 (the two "noun" fragments: their words are whole
sentences, the reply's first frame 428-451 ms after the fragment); cue on: 0 of 20, v2v p50
804 / p95 1188 ms as with it off (803 / 1183), 20 of 20 whole sentences answered, 2.15 LLM
requests a trial. `--fragments alone` with the cue on: 2 of 20 again (espeak ends those
fragments falling, so the cue answers them at once, as it should a finished sentence).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import ServerProcess, pct, split_cores  # noqa: I001 - sets sys.path
from fragments import split_sentence
from probe_server import LagProbe
from speech_calls import (
    AgentAudio,
    ListeningCaller,
    PositionalDeepgram,
    Received,
    add_call_options,
    inherited_settings,
    longest_gap_ms,
    played_ms,
    received,
    save_and_print,
    server_env,
    trimmed,
)

from console.simulate.voice import render_line
from tests.fakes.deepgram_fake import FakeDeepgramOptions
from tests.fakes.deepgram_positions import Clip, ClipTimeline, Phrase
from tests.fakes.groq_fake import FakeGroq, GroqRequest

PAUSE_MS = 600
SAMPLE_RATE = 8000
FRAME_S = 0.020
WPM = (150, 180)  # espeak-ng's rate, drawn per trial
DELAY_S = (0.3, 1.2)  # after the greeting, before the fragment
STAGGER_S = 2.0  # concurrent calls connect this far apart at most
ENDPOINT_MS = 300  # the fake's endpointing as the server asks for it
TALKED_OVER_TARGET = 1  # of 20
REPLY = "Trial {trial} answer {answer} is noted."  # one sentence, so one TTS request
REPLY_TAG = re.compile(r"Trial (\d+) answer (\d+)")
# (kind, fragment, rest): every fragment stops mid-sentence; "noun" ones sound finished.
SENTENCES = (
    ("conjunction", "My daughter has a fever and", "she's been coughing all night"),
    ("conjunction", "I called yesterday about my order, but", "nobody called me back"),
    ("conjunction", "I want to cancel my appointment because", "I'm going to be out of town"),
    ("conjunction", "We moved to a new address last month so", "the bills go to the old one"),
    ("conjunction", "I could come in on Monday or", "maybe Tuesday if that's easier"),
    ("preposition", "I'd like to book a cleaning for", "Friday evening at seven"),
    ("preposition", "I need to change the appointment to", "Thursday afternoon"),
    ("preposition", "Could you send the invoice to", "my work email instead"),
    ("preposition", "I'm looking for a dentist near", "the train station downtown"),
    ("preposition", "My husband has been waiting since", "eight o'clock this morning"),
    ("comma", "If the doctor is free tomorrow,", "could I come in around noon"),
    ("comma", "My date of birth is March third,", "nineteen eighty two"),
    ("comma", "Actually, before we go on,", "I should mention I changed insurance"),
    ("comma", "Hi, this is about my son,", "he missed his checkup last week"),
    ("filler", "Can you tell me, um,", "when the clinic opens tomorrow"),
    ("filler", "I was hoping to, uh,", "move my cleaning to next month"),
    ("filler", "So the thing is, like,", "my tooth still hurts after the filling"),
    ("filler", "I think my policy number is, um,", "four five two seven nine"),
    ("noun", "I'm calling about my prescription", "for blood pressure pills"),
    ("noun", "I need a refill of my inhaler", "from the pharmacy on Main Street"),
)
KINDS = ("conjunction", "preposition", "comma", "filler", "noun")


@dataclass(frozen=True)
class Trial:
    number: int
    kind: str
    fragment: str
    rest: str
    wpm: int
    delay_s: float
    connect_after_s: float


@dataclass(frozen=True)
class Spoken:
    """A trial's audio: fragment, pause, rest; byte offsets of the pause and the rest."""

    audio: bytes
    fragment_end: int
    rest_start: int
    longest_gap_ms: int  # inside the fragment or the rest, as the fake recogniser hears it


def plan(trials: int, seed: int) -> list[Trial]:
    """`trials` of the sentences in a seeded order, each with its own rate and waits. A
    sentence is said once a run: the fake LLM finds a call's trial by its words."""
    if not 0 < trials <= len(SENTENCES):
        raise ValueError(f"--trials is 1 to {len(SENTENCES)} (one per sentence)")
    rng = random.Random(seed)
    order = rng.sample(SENTENCES, trials)
    return [Trial(n, *order[n], rng.randint(*WPM), round(rng.uniform(*DELAY_S), 2),
                  round(rng.uniform(0, STAGGER_S), 2))
            for n in range(trials)]  # fmt: skip


def speak(trial: Trial, speech_rms: float, fragments: str = "whole") -> Spoken:
    """espeak-ng's fragment and rest (`fragments`: cut from the whole sentence, or each said
    alone), each trimmed to its voice, around PAUSE_MS of silence (plus up to 10 ms so the rest
    starts on a 20 ms frame). Refuses words with a silence inside as long as the fake's
    endpointing: the bench would then test another pause than its own."""
    fragment, rest = _voiced(trial, fragments)
    gap = max(longest_gap_ms(fragment, speech_rms), longest_gap_ms(rest, speech_rms))
    if gap >= ENDPOINT_MS - 40:
        raise ValueError(f"trial {trial.number}: a {gap} ms silence inside the words")
    pause = PAUSE_MS * SAMPLE_RATE // 1000 + (-len(fragment)) % 160
    audio = fragment + b"\xff" * pause + rest
    return Spoken(audio, len(fragment), len(fragment) + pause, gap)


def _voiced(trial: Trial, fragments: str) -> tuple[bytes, bytes]:
    if fragments == "whole":
        split = split_sentence(trial.fragment, trial.rest, trial.wpm)
        return split.fragment, split.rest
    return (trimmed(render_line(trial.fragment, words_per_minute=trial.wpm)),
            trimmed(render_line(trial.rest, words_per_minute=trial.wpm)))


def clip_of(trial: Trial, spoken: Spoken) -> Clip:
    end = len(spoken.audio) / SAMPLE_RATE
    return Clip(spoken.audio, [Phrase(0.0, spoken.fragment_end / SAMPLE_RATE, trial.fragment),
                               Phrase(spoken.rest_start / SAMPLE_RATE, end, trial.rest)])


# --- the fake LLM --------------------------------------------------------------------------------


# Recognizers drop hesitations (the Whisper text the fake hands out has no "um" or "uh"), so
# "the whole sentence" is judged on the words that carry it.
HESITATIONS = frozenset({"um", "uh", "er", "erm", "uhm"})


def normal(text: str) -> str:
    words = re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()
    return " ".join(w for w in words if w not in HESITATIONS)


class Replies:
    """FakeGroq's reply: names the trial (found by its words in the last user message) and the
    number of the trial's request, so a frame the caller hears leads back to one request."""

    def __init__(self, trials: list[Trial]) -> None:
        self.trials = trials
        self.requests: dict[int, list[GroqRequest]] = {t.number: [] for t in trials}
        self.unmatched: list[str] = []

    def __call__(self, request: GroqRequest) -> str:
        last = normal(str(request.messages[-1].get("content", "")))
        trial = self.trial_of(last)
        if trial is None:
            self.unmatched.append(last)
            return "Okay."
        self.requests[trial.number].append(request)
        return REPLY.format(trial=trial.number, answer=len(self.requests[trial.number]))

    def trial_of(self, said: str) -> Trial | None:
        """The trial whose fragment or rest the message holds; else (a server that finalized
        inside the fragment and speculates on part of it) the one whose sentence holds it."""
        hits = [t for t in self.trials if normal(t.fragment) in said or normal(t.rest) in said]
        if not hits and said:
            hits = [t for t in self.trials if said in normal(f"{t.fragment} {t.rest}")]
        return hits[0] if len(hits) == 1 else None


def whole(trial: Trial, request: GroqRequest) -> bool:
    said = normal(str(request.messages[-1].get("content", "")))
    return normal(trial.fragment) in said and normal(trial.rest) in said


# --- one run -------------------------------------------------------------------------------------


async def run(trials: list[Trial], concurrency: int, stt: str,
              cores: dict[str, list[int]] | None, fragments: str = "whole") -> dict[str, Any]:
    speech_rms = FakeDeepgramOptions().speech_rms
    spoken = {t.number: speak(t, speech_rms, fragments) for t in trials}
    timeline = ClipTimeline([clip_of(t, spoken[t.number]) for t in trials], anchor_frames=25)
    replies = Replies(trials)
    async with PositionalDeepgram(timeline) as deepgram, \
            FakeGroq(reply=replies, first_token_ms=150, tokens_per_s=200) as groq:
        with tempfile.TemporaryDirectory() as workdir:
            env = server_env(deepgram, groq, workdir, stt)
            server = await ServerProcess(env, Path(workdir), cores and cores["server"]).start()
            try:
                probe = LagProbe()
                probing = asyncio.create_task(probe.run(), name="bench-lag-probe")
                callers = await _calls(server.media_url, trials, spoken, concurrency)
                probing.cancel()
            finally:
                await server.stop()
        agent = AgentAudio([r.text for r in deepgram.tts_requests], deepgram.opts.ms_per_char)
        records = [measure(t, spoken[t.number], callers[t.number], agent, replies, groq)
                   for t in trials]  # fmt: skip
    return report(records, stt, cores, probe.summary(), replies)


async def _calls(url: str, trials: list[Trial], spoken: dict[int, Spoken],
                 concurrency: int) -> dict[int, ListeningCaller]:
    gate = asyncio.Semaphore(concurrency)
    callers = {t.number: ListeningCaller(url, spoken[t.number].audio, t.delay_s, t.kind)
               for t in trials}  # fmt: skip

    async def one(trial: Trial) -> None:
        async with gate:
            await asyncio.sleep(trial.connect_after_s if concurrency > 1 else 0.0)
            await callers[trial.number].run()

    await asyncio.gather(*(one(t) for t in trials))
    return callers


# --- measures ------------------------------------------------------------------------------------


def measure(trial: Trial, spoken: Spoken, caller: ListeningCaller, agent: AgentAudio,
            replies: Replies, groq: FakeGroq) -> dict[str, Any]:
    sent = caller.clip_frame_times()
    frames = received(caller, agent)
    record: dict[str, Any] = {"trial": trial.number, "kind": trial.kind,
                              "fragment": trial.fragment, "rest": trial.rest, "wpm": trial.wpm,
                              "errors": caller.log.errors + caller.answer_errors}  # fmt: skip
    if len(sent) * 160 < len(spoken.audio):
        record["errors"].append("the clip was not sent whole")
        return record
    fragment_end = sent[-(-spoken.fragment_end // 160) - 1]
    rest_start, rest_end = sent[spoken.rest_start // 160], sent[-1]
    over = [f for f in frames if rest_start <= f.at <= rest_end]
    in_pause = [f for f in frames if fragment_end < f.at < rest_start]
    asked = replies.requests[trial.number]
    heard = _heard_reply(trial, frames)
    after = [f for f in frames if f.at > rest_end and _answer(trial, f) is not None]
    cancelled = [r for r in groq.responses if r.request in asked and r.disconnected]
    return {
        **record,
        "pause_ms": round((rest_start - FRAME_S - fragment_end) * 1000),
        "talked_over": bool(over), "frames_over_rest": len(over),
        "over_rest_from": sorted(Counter(_role(f) for f in over).items()),
        "played_over_rest_ms": played_ms(caller, rest_start - FRAME_S, rest_end),
        "started_in_pause": bool(in_pause),
        "first_agent_audio_after_fragment_ms": _first_after(frames, fragment_end),
        "heard_answer": heard,
        "answered_whole_sentence": heard is not None and whole(trial, asked[heard - 1]),
        "v2v_ms": round((after[0].at - rest_end) * 1000) if after else None,
        "llm_requests": len(asked), "llm_cancelled": len(cancelled),
        "last_user_messages": [str(r.messages[-1].get("content", "")) for r in asked],
    }


def _first_after(frames: list[Received], at: float) -> int | None:
    later = [f.at for f in frames if f.at > at]
    return round((later[0] - at) * 1000) if later else None


def _answer(trial: Trial, frame: Received) -> int | None:
    """Which of the trial's requests the frame's reply answers (None: not a reply of this trial)."""
    match = REPLY_TAG.match(frame.text or "")
    if match is None or int(match.group(1)) != trial.number:
        return None
    return int(match.group(2))


def _heard_reply(trial: Trial, frames: list[Received]) -> int | None:
    """The request whose reply the caller heard last."""
    answers = [_answer(trial, f) for f in frames]
    return next((a for a in reversed(answers) if a is not None), None)


def _role(frame: Received) -> str:
    if frame.text is None:
        return "unknown"
    return "reply" if REPLY_TAG.match(frame.text) else frame.text


# --- the report ----------------------------------------------------------------------------------


def report(records: list[dict[str, Any]], stt: str, cores: dict[str, list[int]] | None,
           lag: dict[str, Any], replies: Replies) -> dict[str, Any]:
    done = [r for r in records if "talked_over" in r]
    summary = _summary(done)
    return {
        "bench": "midpause", "trials": len(records), "measured": len(done), "stt": stt,
        "pause_ms": PAUSE_MS, "cores": cores or "shared",
        "settings_from_environment": inherited_settings(),
        **summary,
        "by_kind": {kind: _summary([r for r in done if r["kind"] == kind]) for kind in KINDS},
        "targets": {"talked_over_at_most_1_in_20":
                    summary["talked_over"] <= TALKED_OVER_TARGET * len(records) / 20},
        "errors": [f"trial {r['trial']}: {e}" for r in records for e in r["errors"]],
        "llm_requests_without_a_trial": len(replies.unmatched),
        "bench_loop_lag_ms": {k: lag.get(k) for k in ("p50", "p99", "max")},
        "trial_records": records,
    }


def _summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    v2v = [r["v2v_ms"] for r in records if r["v2v_ms"] is not None]
    requests = [r["llm_requests"] for r in records]
    return {
        "n": len(records),
        "talked_over": sum(r["talked_over"] for r in records),
        "started_in_pause": sum(r["started_in_pause"] for r in records),
        "answered_whole_sentence": sum(r["answered_whole_sentence"] for r in records),
        "v2v_ms": {"p50": pct(v2v, 50), "p95": pct(v2v, 95), "n": len(v2v)},
        "llm_requests_per_trial": {"mean": round(sum(requests) / len(requests), 2)
                                   if requests else None, "max": max(requests, default=None)},
    }


def _headline(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("trials", "talked_over", "answered_whole_sentence", "v2v_ms",
                                   "llm_requests_per_trial", "targets")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fragments", choices=("whole", "alone"), default="whole",
                        help="whole: cut from the whole sentence (continuation pitch); alone: "
                             "each fragment said as a sentence of its own (a final fall)")
    add_call_options(parser, "midpause", concurrency=4,
                     concurrency_help="calls at once (1: one after another, slower, no shared "
                                      "server)")
    args = parser.parse_args()
    cores = split_cores(args.shared_cores)
    result = asyncio.run(run(plan(args.trials, args.seed), args.concurrency, args.stt, cores,
                             args.fragments))
    result["seed"], result["fragments"] = args.seed, args.fragments
    save_and_print("midpause", result, args.json_out, _headline(result))


if __name__ == "__main__":
    main()
