"""Conversation pipeline bench: N simulated calls against loopback fakes with fixed latencies.

Fakes (in this process): Deepgram with 300 ms endpointing, its realistic interim cadence, and
TTS first byte 80 ms; Groq with first token 150 ms at 200 tokens/s, and a reply whose first
sentence is nine tokens with no comma (so a first chunk cannot come for free). The voiceconsole
server runs in its own process, so its CPU and memory are measured alone. Each call: greeting,
three caller turns of real recorded speech, then a barge-in. `--stt flux` runs the recognizer
on Deepgram Flux (`/v2/listen`) instead of Nova.

Each turn is real speech that ends where its speaker ended a sentence (tests.speech.
finished_turn): a caller's turn ends at the end of what they meant to say, and how the voice ends
there is part of what the server listens to (the pitch cue, console/calls/prosody.py).
`--turn-ends cut` gives the turns this bench used before 2026-12-05 instead: 1.2 s cut wherever
the time ran out, often mid-phrase, where the cue rightly hears a speaker who is not done.

Voice-to-voice is measured at the caller: from the last voiced frame of what it said (the
energy measure of tests/speech.py, not the server's) to the first frame of the reply it
receives.

Arrivals: every call connects at once and stays up for the whole run, but each caller starts
talking at a random moment within STAGGER_S (seeded, so every run has the same ones), as
independent callers do: a turn cycle here is about 10 s, so at 50 calls turns end about 5 times
a second on average, sometimes several together. `--aligned` makes all N callers speak in
lockstep instead, so every hand-off of every call lands in the same millisecond: a worst case no
real population of callers produces, kept to show the cost of such a burst.

Hop by hop (one clock, time.monotonic, shared by every process on Linux), each reply:
  endpoint wait:     caller's last voiced frame -> final transcript sent by the fake (on Flux:
                     its EagerEndOfTurn, which the reply is prepared on)
  final transcript sent -> LLM request received
  first-chunk wait:  LLM's first token sent -> first TTS request received (the chunker's wait)
  TTS first byte sent -> first media frame received by the caller
Own overhead = the three hand-offs that are ours (all but the endpoint wait and the providers'
own latencies). It also prints LLM requests per answered turn (what speculation costs) and the
server's speculation outcomes (used / discarded / restarted / cancelled).

    python bench/pipeline.py --calls 1 --calls 50 [--aligned] [--stt nova|flux]
                             [--turn-ends sentence|cut]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from common import ServerProcess, split_cores, spread  # noqa: I001 - sets sys.path for tests.fakes
from probe_server import LagProbe

from console.simulate.caller import CallerOptions, SimulatedCaller, Utterance
from tests.fakes.deepgram_fake import FakeDeepgram, silence
from tests.fakes.groq_fake import FakeGroq
from tests.speech import finished_turn, monologue, voiced_spans

TURNS = 3  # caller turns per call (then one barge-in)
SOLO_TURNS = 12  # with one call, more turns: a p95 of three samples would be their maximum
STAGGER_S = 6.0  # under the profiles' 8 s idle reprompt, so the wait never triggers one
# The first sentence ends on a word, as most do: after a number ("noted 12.") the chunker rightly
# waits one more token in case a decimal follows, which would add the LLM's 5 ms token interval.
REPLY = ("I have noted line {uid} for your booking today. We are open on weekdays from eight in "
         "the morning until six, and on Saturdays from nine until noon. Is there anything else?")
TALK_S = 1.2  # each caller turn: real speech, no pause inside long enough to end the sound
TURN_ENDS = ("sentence", "cut")


def reply_for(request: Any) -> str:
    """Each reply's first chunk names the utterance it answers, so its TTS request and the
    frame the caller hears can be traced back to one turn of one call."""
    last = request.messages[-1]["content"]
    uid = re.search(r"number (\d+)", last)
    return REPLY.format(uid=uid.group(1) if uid else "0")


async def run(calls: int, stagger_s: float, cores: dict[str, list[int]] | None,
              stt: str = "nova", turn_ends: str = "sentence") -> dict[str, Any]:
    turns = SOLO_TURNS if calls == 1 else TURNS
    script = [f"this is caller line number {i} about my booking" for i in range(calls * 10)]
    async with FakeDeepgram(script=script, first_byte_ms=80, ms_per_char=60) as deepgram, \
            FakeGroq(reply=reply_for, first_token_ms=150, tokens_per_s=200) as groq:
        with tempfile.TemporaryDirectory() as workdir:
            env = _server_env(deepgram, groq, workdir) | {"VOICECONSOLE_STT_ENGINE": stt}
            server = await ServerProcess(env, Path(workdir), cores and cores["server"]).start()
            try:
                cpu_before, mem_before = server.cpu_seconds(), server.memory_mb()
                started = time.monotonic()
                probe = LagProbe()  # the fakes' own loop: its lag inflates their timestamps
                probing = asyncio.create_task(probe.run(), name="fakes-lag-probe")
                heard = await _run_callers(server.media_url, calls, stagger_s, turns, turn_ends)
                callers = heard["callers"]
                probing.cancel()
                wall = time.monotonic() - started
                cpu = server.cpu_seconds() - cpu_before
                mem = server.memory_mb()
            finally:
                await server.stop()
            playout = _server_playout(Path(workdir) / "bench.db")
            speculations = _speculations(Path(workdir) / "bench.db")
        answered = calls * (turns + 1)  # each turn and the barge-in, answered once
        return {
            "calls": calls,
            "turns_per_call": turns,
            "stt": stt,
            "turn_ends": turn_ends,
            "first_words_spread_s": stagger_s,
            "cores": cores or "shared",
            "wall_s": round(wall, 1),
            **_latencies(callers, turns),
            "own_overhead_ms": spread(_overheads(callers, deepgram, groq)),
            "hop_by_hop_ms": _gap_breakdown(callers, deepgram, groq),
            "llm_requests_per_answered_turn": round(len(groq.requests) / answered, 2),
            "speculations": speculations,
            "fakes_loop_lag_ms": probe.summary(),
            "callers_loop_lag_ms": heard["loop_lag_ms"],
            **_barge_ins(callers),
            "pacing_jitter_ms_p99": _jitter_p99(callers),
            "server_playout": playout,
            "cpu_s_per_call": round(cpu / calls, 3),
            "rss_mb": {"before": mem_before["rss"], "after": mem["rss"], "peak": mem["peak"],
                       "growth_per_call": round((mem["peak"] - mem_before["rss"]) / calls, 2)},
        }


def _server_env(deepgram: FakeDeepgram, groq: FakeGroq, workdir: str) -> dict[str, str]:
    return {
        "DEEPGRAM_API_KEY": deepgram.api_key, "VOICECONSOLE_DEEPGRAM_BASE_URL": deepgram.base_url,
        "GROQ_API_KEY": groq.api_key, "VOICECONSOLE_GROQ_BASE_URL": groq.base_url,
        "VOICECONSOLE_DATA_DB": f"{workdir}/bench.db",
    }


async def _run_callers(url: str, calls: int, stagger_s: float, turns: int,
                       turn_ends: str = "sentence"
                       ) -> dict[str, Any]:
    """The callers run in their own process (bench/caller_worker.py): 50 callers pacing and
    receiving audio would otherwise delay the fakes' own timestamps in this loop."""
    worker = Path(__file__).with_name("caller_worker.py")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(worker), url, str(calls), str(stagger_s), str(turns), turn_ends,
        stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    result = json.loads(out)
    return {"callers": [_heard(record) for record in result["callers"]],
            "loop_lag_ms": result["loop_lag_ms"]}


def _heard(record: dict[str, Any]) -> SimpleNamespace:
    """A caller as the worker reported it, read like a SimulatedCaller (its log, its clock)."""
    frames = [bytes.fromhex(frame) for frame in record["turn_first_frames"]]
    return SimpleNamespace(log=SimpleNamespace(**record["log"]), turn_first_frames=frames,
                           started_at=record["started_at"])


def _said(mulaw: bytes, **options: Any) -> Utterance:
    """Labelled with where its last voiced frame is (s from its start): the speech end."""
    spoken_until = voiced_spans(mulaw)[-1][1]
    return Utterance(mulaw=mulaw + silence(40), label=f"{spoken_until:.3f}", **options)


def _talk(seed: int, turn_ends: str) -> bytes:
    """One caller turn of real speech, ending at a sentence end or cut where the time runs out."""
    if turn_ends == "cut":
        return monologue(TALK_S, gaps_ms=(0, 100), seed=seed)
    return finished_turn(seed, TALK_S)


def _caller(url: str, delay_s: float = 0.0, seed: int = 0, turns: int = TURNS,
            turn_ends: str = "sentence") -> SimulatedCaller:
    """A caller who, once greeted, waits `delay_s` in silence, then talks: `turns` turns of real
    speech, then one that barges in 700 ms into the agent's reply."""
    talks = [_talk(seed * 100 + i, turn_ends) for i in range(turns + 1)]
    speech = [_said(talk) for talk in talks[:turns]]
    speech[0] = _said(silence(round(delay_s * 1000)) + talks[0])
    barge = _said(talks[turns], barge_in_after_ms=700)
    return SimulatedCaller(CallerOptions(url=url, utterances=[*speech, barge],
                                         reply_timeout_s=15.0))


def _speech_end(record: dict[str, Any]) -> float:
    return record["start"] + float(record["label"])


def _latencies(callers: list[SimulatedCaller], turns: int) -> dict[str, Any]:
    """Voice-to-voice as the caller hears it: its last voiced frame -> the reply's first
    frame."""
    values = []
    for caller in callers:
        for record in caller.log.speech[:turns]:
            end = _speech_end(record)
            start = next((t for t in caller.log.turn_starts if t > end), None)
            if start is not None:
                values.append((start - end) * 1000)
    return {"voice_to_voice_ms": spread(values)}


HOPS = ("endpoint_wait", "final_to_llm_request", "llm_first_token_to_tts_request",
        "tts_byte_to_caller_frame")


def _overheads(callers: list[SimulatedCaller], deepgram: FakeDeepgram,
               groq: FakeGroq) -> list[float]:
    """Ours: the final's hand-off to the LLM, and the TTS audio's to the caller (the chunker's
    wait is shown apart: it is mostly the LLM's token rate)."""
    return [g[1] + g[3] for g in _handoff_gaps(callers, deepgram, groq)]


def _gap_breakdown(callers: list[SimulatedCaller], deepgram: FakeDeepgram,
                   groq: FakeGroq) -> dict[str, Any]:
    """Where each reply's time went: p50/p95 of each hop."""
    gaps = _handoff_gaps(callers, deepgram, groq)
    return {name: spread([g[i] for g in gaps]) for i, name in enumerate(HOPS)}


def _handoff_gaps(callers: list[SimulatedCaller], deepgram: FakeDeepgram,
                  groq: FakeGroq) -> list[tuple[float, float, float, float]]:
    """The hops of each reply that was heard. The fake recognizer hands out its script in
    order to whichever call finishes an utterance first, so the same text can occur in two
    calls at once: each hand-off is paired with the nearest matching event on the right side
    of it, and the reply's first chunk (whatever the chunker cut) is found as the first TTS
    request that begins the reply."""
    heard = _times_by_key((frame, (caller, caller.started_at + at)) for caller in callers
                          for frame, at in zip(caller.turn_first_frames, caller.log.turn_starts,
                                               strict=False))
    finals = _times_by_key(deepgram.finals_sent + deepgram.eager_ends_sent)
    gaps = []
    for response in _heard_replies(groq.responses):
        request, reply = response.request, reply_for(response.request)
        final_at = _last_before(finals.get(request.messages[-1]["content"], []),
                                request.received)
        first_token = response.tokens[0].at if response.tokens else None
        speak = _first_after([r for r in deepgram.tts_requests if reply.startswith(r.text)],
                             first_token, key=lambda r: r.received_at)
        if None in (final_at, first_token, speak) or speak.first_byte_at is None:
            continue
        frame = _first_after(heard.get(deepgram.audio_for(speak.text)[:160], []),
                             speak.first_byte_at, key=lambda heard_at: heard_at[1])
        if frame is None:
            continue
        caller, frame_at = frame
        spoke_until = _last_before([_speech_end(r) + caller.started_at for r in caller.log.speech
                                    if "end" in r], final_at)
        if spoke_until is not None:
            gaps.append(((final_at - spoke_until) * 1000,
                         (request.received - final_at) * 1000,
                         (speak.received_at - first_token) * 1000,
                         (frame_at - speak.first_byte_at) * 1000))
    return gaps


def _heard_replies(responses: list[Any]) -> list[Any]:
    """Drop replies prepared and then redone before anything was heard (the caller went on): a
    redone reply has the same text as the one heard, which would pair the dropped one's early
    request with the heard one's frame."""
    last: dict[str, Any] = {}
    for response in sorted(responses, key=lambda r: r.request.received):
        last[reply_for(response.request)] = response
    return [r for r in responses if last.get(reply_for(r.request)) is r]


def _times_by_key(pairs: Any) -> dict[Any, list[Any]]:
    grouped: dict[Any, list[Any]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


def _last_before(times: list[float], limit: float) -> float | None:
    return max((t for t in times if t <= limit), default=None)


def _first_after(items: list[Any], limit: float | None, key: Any = lambda t: t) -> Any:
    if limit is None:
        return None
    later = [item for item in items if key(item) >= limit]
    return min(later, key=key, default=None)


def _barge_ins(callers: list[SimulatedCaller]) -> dict[str, Any]:
    latencies, leaked = [], 0
    for caller in callers:
        barge = next((r for r in caller.log.speech if r["barge_in"]), None)
        clear = next((c for c in caller.log.clears if barge and c >= barge["start"]), None)
        if barge is None or clear is None:
            continue
        latencies.append((clear - barge["start"]) * 1000)
        leaked += sum(1 for t in caller.log.received_at if clear < t < barge["end"])
    return {"barge_in_ms": spread(latencies), "frames_after_clear": leaked}


def _speculations(db_path: Path) -> dict[str, Any]:
    """How the server's prepared replies ended (SpeculationSettled), by outcome, and why the
    used ones were released when they were (the release rule's reason: "finished", "question",
    "finished, voice level"...)."""
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "select payload from events where kind = 'SpeculationSettled'").fetchall()
    counts: dict[str, Any] = {}
    released: dict[str, int] = {}
    for (payload,) in rows:
        settled = json.loads(payload)
        counts[settled["outcome"]] = counts.get(settled["outcome"], 0) + 1
        if settled["outcome"] == "used":
            rule = settled.get("rule") or "?"
            released[rule] = released.get(rule, 0) + 1
    return {**counts, "released_by": released}


def _server_playout(db_path: Path) -> dict[str, Any]:
    """The server's own account (PlayoutMeasured): frames it sent late, as opposed to jitter
    added by this bench process receiving 50 calls' audio."""
    with sqlite3.connect(db_path) as db:
        rows = db.execute("select payload from events where kind = 'PlayoutMeasured'").fetchall()
    payloads = [json.loads(row[0]) for row in rows]
    return {
        "frames_sent": sum(p["frames_sent"] for p in payloads),
        "late_frames": sum(p["late_frames"] for p in payloads),
        "worst_lateness_ms": max((p["worst_lateness_ms"] for p in payloads), default=None),
    }


def _jitter_p99(callers: list[SimulatedCaller]) -> float | None:
    """|gap - 20 ms| between frames within a reply, after the first 100 ms sent ahead."""
    deviations = []
    for caller in callers:
        times, turns = caller.log.received_at, set(caller.log.turn_starts)
        since_turn = 0
        for previous, current in zip(times, times[1:], strict=False):
            since_turn = 0 if current in turns else since_turn + 1
            gap = current - previous
            if since_turn > 6 and gap < 0.1:
                deviations.append(abs(gap - 0.020) * 1000)
    deviations.sort()
    return round(deviations[int(0.99 * (len(deviations) - 1))], 2) if deviations else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, action="append", help="concurrent calls (repeat)")
    parser.add_argument("--aligned", action="store_true",
                        help="all callers talk in lockstep (worst-case bursts)")
    parser.add_argument("--shared-cores", action="store_true",
                        help="let the server, fakes and callers share every core")
    parser.add_argument("--stt", choices=("nova", "flux"), default="nova",
                        help="the Deepgram recognizer the server uses")
    parser.add_argument("--turn-ends", choices=TURN_ENDS, default="sentence",
                        help="caller turns end at a sentence end, or are cut anywhere")
    args = parser.parse_args()
    stagger_s = 0.0 if args.aligned else STAGGER_S
    cores = split_cores(args.shared_cores)
    results = [asyncio.run(run(n, stagger_s, cores, args.stt, args.turn_ends))
               for n in (args.calls or [1])]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
