"""Recordings bench: does the agent start talking inside a real speaker's pauses?

    python bench/recordings.py [--concurrency 3] [--stt nova|flux] [--json-out PATH]

JSON goes to stdout and to --json-out (default bench/results/recordings-<time>.json); the
targets, pass or fail, to stderr.

One call per recording of tests.speech.RECORDINGS (real human speech shipped in the
moonshine-voice wheel: two_cities 44 s, beckett 10 s, endgame_nagg_nell 28 s, two voices),
against the real server (`voiceconsole serve` on a core of its own) and the loopback fakes
(Deepgram: realistic cadence; Groq: first token 150 ms, 200 tokens/s, every reply "Okay, I hear
you."). After the greeting the caller plays the whole recording, its own pauses included, then
streams silence until the agent has answered and been quiet for 1.5 s.

What the fake recogniser hears: the recording's phrases are its voiced spans
(`tests.speech.voiced_spans`, pauses of 150 ms or more between them), each transcribed once per
run by the local Whisper (console/providers/local/stt.py, tiny.en) as it stands, its
punctuation included (Whisper ends most isolated phrases with a period, an unfinished one
sometimes with "..."). The fake gives each utterance the words said in its own audio window
(bench/speech_calls.py), whatever the server finalizes. Spans with no words (two_cities opens
with a 50 ms noise blip; beckett has breaths and clicks) are noise, not phrases: a pause runs
from one phrase with words to the next.

Reported, on the recording's own timeline (the caller's send times: audio at t s into the
recording leaves the caller 20 ms after the frame holding it starts):
- every agent audio start (the caller's speaker was idle 100 ms, or a clear came, before it)
  after the recording began: inside a pause (the pause's length, the text of the phrase before
  it, the recogniser's last final before the start, the offset into the pause), while the
  speaker talks, or after the speaker finished (fine);
- per recording: its pauses, their length distribution, and how many follow a phrase that ends
  in a comma, a conjunction, or another unfinished ending (a preposition, a filler, "...").
Targets (pass/fail): no start inside a pause shorter than 700 ms; no start after a phrase whose
text ends in a comma or a conjunction.

Baseline (the call code of a64ad8f, before answering sooner; a quiet 2-core machine): 10 starts
inside pauses, all in pauses of 700 ms or more (8 of 700-1000 ms, 2 longer; 550-832 ms into the
pause, or ~140 ms after a "Yes." that paused a reply), so both targets pass; 1-2 starts while
the speaker talks (a resumed reply meeting the next phrase); 4 after the speaker finished; 50
LLM requests for the 3 calls. Whisper ends almost every isolated phrase with a period: of the 56
pauses only 1-2 follow a phrase ending in a preposition or determiner and 5 an ellipsis, none a
comma, none a conjunction, so the second target only bites once the recogniser's text does.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import ServerProcess, pct, split_cores  # noqa: I001 - sets sys.path
from probe_server import LagProbe
from speech_calls import (
    AgentAudio,
    ListeningCaller,
    PositionalDeepgram,
    add_call_options,
    inherited_settings,
    save_and_print,
    server_env,
)

from tests import speech
from tests.fakes.deepgram_positions import Clip, ClipTimeline, Phrase
from tests.fakes.groq_fake import FakeGroq

REPLY = "Okay, I hear you."
SHORT_PAUSE_MS = 700  # no reply may start inside a pause shorter than this
PAD_S = 0.05  # audio either side of a span that Whisper gets (pauses are 150 ms or more)
BUCKETS_MS = (300, 500, 700, 1000)
DELAY_S = 0.5  # after the greeting, before the recording
SAMPLE_RATE = 8000
FRAME_S = 0.020
# Words a finished sentence hardly ends on ("that", "since", "when" can: left out).
CONJUNCTIONS = frozenset({"and", "but", "or", "nor", "so", "yet", "because", "although",
                          "though", "unless", "whereas", "if"})  # fmt: skip
PREPOSITIONS = frozenset({"of", "to", "for", "in", "on", "at", "by", "with", "from", "about",
                          "into", "onto", "near", "after", "before", "like", "than", "through"})
DETERMINERS = frozenset({"the", "a", "an", "my", "your", "our", "his", "her", "their", "its"})
FILLERS = frozenset({"um", "uh", "er", "erm", "hmm"})


@dataclass(frozen=True)
class Pause:
    start_s: float  # on the recording's timeline
    end_s: float
    before: str  # the phrase before it, as Whisper gave it

    @property
    def ms(self) -> int:
        return round((self.end_s - self.start_s) * 1000)


# --- phrases and pauses -------------------------------------------------------------------------


def phrases_of(mulaw: bytes) -> list[Phrase]:
    """Every voiced span with Whisper's text for it (blocking: ~0.25 s a span)."""
    from console.audio_codec import mulaw_to_pcm16
    from console.providers.local.stt import transcribe_pcm16

    out = []
    for start, end in speech.voiced_spans(mulaw, min_pause_ms=150):
        low, high = max(0, round((start - PAD_S) * SAMPLE_RATE)), round((end + PAD_S) * SAMPLE_RATE)
        out.append(Phrase(start, end, transcribe_pcm16(mulaw_to_pcm16(mulaw[low:high]))))
    return out


def pauses_of(phrases: list[Phrase]) -> list[Pause]:
    worded = [p for p in phrases if p.text.split()]
    return [Pause(a.end_s, b.start_s, a.text) for a, b in zip(worded, worded[1:], strict=False)]


def ending(text: str) -> str:
    """How a phrase ends: "comma", "conjunction", "preposition", "determiner", "filler",
    "ellipsis" (all unfinished-sounding, whatever period Whisper put after the word) or
    "finished" (a question or an exclamation always is)."""
    stripped = text.rstrip()
    words = stripped.lower().replace(",", " ").replace(".", " ").split()
    last = words[-1].strip("!?;:'\"") if words else ""
    if stripped.endswith(","):
        return "comma"
    if stripped.endswith(("?", "!")):
        return "finished"
    for kind, vocabulary in (("conjunction", CONJUNCTIONS), ("preposition", PREPOSITIONS),
                             ("determiner", DETERMINERS), ("filler", FILLERS)):
        if last in vocabulary:
            return kind
    return "ellipsis" if stripped.endswith(("...", "…")) else "finished"


# --- one run ------------------------------------------------------------------------------------


async def run(phrases: dict[str, list[Phrase]], concurrency: int, stt: str,
              cores: dict[str, list[int]] | None) -> dict[str, Any]:
    clips = {name: Clip(speech.recording(name), phrases[name]) for name in phrases}
    timeline = ClipTimeline(list(clips.values()), anchor_frames=5)
    async with PositionalDeepgram(timeline) as deepgram, \
            FakeGroq(reply=REPLY, first_token_ms=150, tokens_per_s=200) as groq:
        with tempfile.TemporaryDirectory() as workdir:
            env = server_env(deepgram, groq, workdir, stt)
            server = await ServerProcess(env, Path(workdir), cores and cores["server"]).start()
            try:
                probe = LagProbe()
                probing = asyncio.create_task(probe.run(), name="bench-lag-probe")
                callers = await _calls(server.media_url, clips, concurrency)
                probing.cancel()
            finally:
                await server.stop()
        agent = AgentAudio([r.text for r in deepgram.tts_requests], deepgram.opts.ms_per_char)
        per = {name: measure(clip, callers[name], agent, deepgram)
               for name, clip in clips.items()}  # fmt: skip
    return report(per, stt, cores, probe.summary(), len(groq.requests))


async def _calls(url: str, clips: dict[str, Clip],
                 concurrency: int) -> dict[str, ListeningCaller]:
    gate = asyncio.Semaphore(concurrency)
    callers = {name: ListeningCaller(url, clip.audio, DELAY_S, name, spoken_s=_last_words(clip))
               for name, clip in clips.items()}  # fmt: skip

    async def one(name: str) -> None:
        async with gate:
            await callers[name].run()

    await asyncio.gather(*(one(name) for name in clips))
    return callers


def _last_words(clip: Clip) -> float:
    return max((p.end_s for p in clip.phrases if p.text.split()), default=0.0)


# --- measures -----------------------------------------------------------------------------------


def measure(clip: Clip, caller: ListeningCaller, agent: AgentAudio,
            deepgram: PositionalDeepgram) -> dict[str, Any]:
    sent = caller.clip_frame_times()
    errors = caller.log.errors + caller.answer_errors
    if not sent:
        return {"errors": [*errors, "the recording was not sent"]}
    origin = sent[0] - FRAME_S  # the caller's clock at the recording's first sample
    pauses = pauses_of(clip.phrases)
    worded = [p for p in clip.phrases if p.text.split()]
    finals = _finals_by_position(clip, deepgram)
    clears = [c - origin for c in caller.log.clears]
    starts_at = [at - origin for at in caller.log.turn_starts]
    starts = [{**_placed(t, pauses, worded, finals), "what": _what(frame, agent),
               "after_clear": _after_clear(t, starts_at, clears)}
              for t, frame in zip(starts_at, caller.turn_first_frames, strict=True)
              if t >= 0]  # fmt: skip
    return {
        "seconds": round(len(caller.clip) / SAMPLE_RATE, 1),
        "phrases": len(worded),
        "pauses": _distribution(pauses),
        "agent_starts": starts,
        "errors": errors,
    }


def _what(frame: bytes, agent: AgentAudio) -> str:
    found = agent.identify(frame)
    return "unknown" if found is None else "reply" if found[0] == REPLY else found[0]


def _placed(t: float, pauses: list[Pause], worded: list[Phrase],
            finals: list[tuple[float, str]]) -> dict[str, Any]:
    """Where on the recording's timeline an agent start at `t` falls."""
    start: dict[str, Any] = {"at_s": round(t, 3)}
    if t >= worded[-1].end_s:
        return {**start, "where": "after_speaker_finished",
                "after_end_ms": round((t - worded[-1].end_s) * 1000)}
    for pause in pauses:
        if pause.start_s <= t < pause.end_s:
            heard = [text for at, text in finals if at <= t]
            return {**start, "where": "pause", "pause_ms": pause.ms,
                    "into_pause_ms": round((t - pause.start_s) * 1000),
                    "phrase_before": pause.before, "ending": ending(pause.before),
                    "recognizer_last_final": heard[-1] if heard else None}
    return {**start, "where": "before_speaking" if t < worded[0].start_s else "while_speaking"}


def _after_clear(t: float, starts: list[float], clears: list[float]) -> bool:
    """A clear came between the agent's previous start and this one: it resumes a paused reply
    or starts a new one after being cut."""
    since = max((s for s in starts if s < t), default=float("-inf"))
    return any(since < c < t for c in clears)


def _finals_by_position(clip: Clip, deepgram: PositionalDeepgram) -> list[tuple[float, str]]:
    """The finals with words the recogniser gave on the recording's socket, each at its place
    on the recording's timeline (the socket's audio when it was sent)."""
    for connection, found in deepgram.timeline.found.items():
        for start, heard in found:
            if heard is clip:
                log = deepgram.recognizers[connection].log
                return [(at - start, text) for at, message in log
                        if message["type"] == "Results" and message["is_final"]
                        and (text := message["channel"]["alternatives"][0]["transcript"])]
    return []


def _distribution(pauses: list[Pause]) -> dict[str, Any]:
    lengths = [p.ms for p in pauses]
    edges = (0, *BUCKETS_MS)
    buckets = {f"{low}-{high}": sum(1 for v in lengths if low <= v < high)
               for low, high in zip(edges, BUCKETS_MS, strict=False)}
    buckets[f"{BUCKETS_MS[-1]}+"] = sum(1 for v in lengths if v >= BUCKETS_MS[-1])
    endings: dict[str, int] = {}
    for pause in pauses:
        endings[ending(pause.before)] = endings.get(ending(pause.before), 0) + 1
    return {"count": len(lengths), "ms": {"min": min(lengths, default=None),
            "p50": pct(lengths, 50), "max": max(lengths, default=None)},
            "buckets_ms": buckets, "after_phrase_ending": endings,
            "list": [{"ms": p.ms, "at_s": round(p.start_s, 2), "before": p.before}
                     for p in pauses]}  # fmt: skip


# --- the report ---------------------------------------------------------------------------------


def report(per: dict[str, dict[str, Any]], stt: str, cores: dict[str, list[int]] | None,
           lag: dict[str, Any], llm_requests: int) -> dict[str, Any]:
    starts = [dict(s, recording=name) for name, r in per.items() for s in r.get("agent_starts", [])]
    in_pause = [s for s in starts if s["where"] == "pause"]
    short = [s for s in in_pause if s["pause_ms"] < SHORT_PAUSE_MS]
    unfinished = [s for s in in_pause if s["ending"] in ("comma", "conjunction")]
    return {
        "bench": "recordings", "stt": stt, "cores": cores or "shared", "reply": REPLY,
        "settings_from_environment": inherited_settings(),
        "starts_inside_pauses": in_pause,
        "starts_while_speaking": [s for s in starts if s["where"] == "while_speaking"],
        "starts_after_speaker_finished": sum(1 for s in starts
                                             if s["where"] == "after_speaker_finished"),
        "starts_inside_pauses_by_length_ms": _by_length(in_pause),
        "targets": {
            f"none_inside_pauses_under_{SHORT_PAUSE_MS}_ms": not short,
            "none_after_a_comma_or_conjunction": not unfinished,
        },
        "pauses_per_recording": {name: {k: r["pauses"][k] for k in ("count", "ms", "buckets_ms")}
                                 for name, r in per.items() if "pauses" in r},
        "llm_requests": llm_requests,
        "recordings": per,
        "errors": [f"{name}: {e}" for name, r in per.items() for e in r.get("errors", [])],
        "bench_loop_lag_ms": {k: lag.get(k) for k in ("p50", "p99", "max")},
    }


def _by_length(starts: list[dict[str, Any]]) -> dict[str, int]:
    edges = (0, *BUCKETS_MS)
    out = {f"{low}-{high}": sum(1 for s in starts if low <= s["pause_ms"] < high)
           for low, high in zip(edges, BUCKETS_MS, strict=False)}
    out[f"{BUCKETS_MS[-1]}+"] = sum(1 for s in starts if s["pause_ms"] >= BUCKETS_MS[-1])
    return out


def _headline(result: dict[str, Any]) -> dict[str, Any]:
    return {"starts_inside_pauses": len(result["starts_inside_pauses"]),
            "starts_while_speaking": len(result["starts_while_speaking"]),
            "starts_after_speaker_finished": result["starts_after_speaker_finished"],
            "by_pause_length_ms": result["starts_inside_pauses_by_length_ms"],
            "targets": {k: "pass" if v else "FAIL" for k, v in result["targets"].items()},
            "pauses": {name: (r["count"], r["buckets_ms"])
                       for name, r in result["pauses_per_recording"].items()},
            "errors": len(result["errors"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_call_options(parser, "recordings", concurrency=3,
                     concurrency_help="calls at once (1: one recording after another)")
    args = parser.parse_args()
    print("transcribing the recordings' phrases with Whisper tiny.en ...", file=sys.stderr)
    phrases = {name: phrases_of(speech.recording(name)) for name in speech.RECORDINGS}
    cores = split_cores(args.shared_cores)
    result = asyncio.run(run(phrases, args.concurrency, args.stt, cores))
    save_and_print("recordings", result, args.json_out, _headline(result))


if __name__ == "__main__":
    main()
