"""Conversation pipeline bench: N simulated calls against loopback fakes with fixed latencies.

Fakes (in this process): Deepgram with 300 ms endpointing and TTS first byte 80 ms, Groq with
first token 150 ms at 200 tokens/s. The voiceconsole server runs in its own process, so its CPU
and memory are measured alone. Each call: greeting, three caller turns, then a barge-in.

Arrivals: every call connects at once and stays up for the whole run, but each caller starts
talking at a random moment within STAGGER_S (seeded, so every run has the same ones), as
independent callers do: a turn cycle here is about 10 s, so at 50 calls turns end about 5 times
a second on average, sometimes several together. `--aligned` makes all N callers speak in
lockstep instead, so every hand-off of every call lands in the same millisecond: a worst case no
real population of callers produces, kept to show the cost of such a burst.

Own overhead = the three hand-off gaps timed at the fakes and the caller (one clock,
time.monotonic, shared by every process on Linux):
  final transcript sent -> LLM request received
  the token ending the reply's first chunk (its first clause) sent -> TTS request received
  TTS first byte sent -> first media frame received by the caller

    python bench/pipeline.py --calls 1 --calls 50 [--aligned]
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

from console.calls.sentences import SentenceChunker
from console.simulate.caller import CallerOptions, SimulatedCaller, Utterance
from tests.fakes.deepgram_fake import FakeDeepgram, silence, tone
from tests.fakes.groq_fake import FakeGroq, GroqResponse

TURNS = 3
STAGGER_S = 6.0  # under the profiles' 8 s idle reprompt, so the wait never triggers one
# The first chunk (up to the first clause: "Line 12 is noted,") ends on a word, as most do: after
# a number ("line 12,") the chunker rightly waits one more token in case "500" follows, which
# would add the LLM's 5 ms token interval.
REPLY = ("Line {uid} is noted, thanks. We are open on weekdays from eight in the morning until "
         "six, and on Saturdays from nine until noon. Is there anything else?")


def reply_for(request: Any) -> str:
    """Each reply's first chunk names the utterance it answers, so its TTS request and the
    frame the caller hears can be traced back to one turn of one call."""
    last = request.messages[-1]["content"]
    uid = re.search(r"number (\d+)", last)
    return REPLY.format(uid=uid.group(1) if uid else "0")


async def run(calls: int, stagger_s: float,
              cores: dict[str, list[int]] | None) -> dict[str, Any]:
    script = [f"this is caller line number {i} about my booking" for i in range(calls * 10)]
    async with FakeDeepgram(script=script, first_byte_ms=80, ms_per_char=60) as deepgram, \
            FakeGroq(reply=reply_for, first_token_ms=150, tokens_per_s=200) as groq:
        with tempfile.TemporaryDirectory() as workdir:
            env = _server_env(deepgram, groq, workdir)
            server = await ServerProcess(env, Path(workdir), cores and cores["server"]).start()
            try:
                cpu_before, mem_before = server.cpu_seconds(), server.memory_mb()
                started = time.monotonic()
                probe = LagProbe()  # the fakes' own loop: its lag inflates their timestamps
                probing = asyncio.create_task(probe.run(), name="fakes-lag-probe")
                heard = await _run_callers(server.media_url, calls, stagger_s)
                callers = heard["callers"]
                probing.cancel()
                wall = time.monotonic() - started
                cpu = server.cpu_seconds() - cpu_before
                mem = server.memory_mb()
            finally:
                await server.stop()
            playout = _server_playout(Path(workdir) / "bench.db")
        return {
            "calls": calls,
            "first_words_spread_s": stagger_s,
            "cores": cores or "shared",
            "wall_s": round(wall, 1),
            **_latencies(callers),
            "own_overhead_ms": spread(_overheads(callers, deepgram, groq)),
            "own_overhead_by_handoff_ms": _gap_breakdown(callers, deepgram, groq),
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
        "DEEPGRAM_API_KEY": deepgram.api_key, "DEEPGRAM_BASE_URL": deepgram.base_url,
        "GROQ_API_KEY": groq.api_key, "GROQ_BASE_URL": groq.base_url,
        "VOICECONSOLE_DB": f"{workdir}/bench.db",
    }


async def _run_callers(url: str, calls: int, stagger_s: float) -> dict[str, Any]:
    """The callers run in their own process (bench/caller_worker.py): 50 callers pacing and
    receiving audio would otherwise delay the fakes' own timestamps in this loop."""
    worker = Path(__file__).with_name("caller_worker.py")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(worker), url, str(calls), str(stagger_s),
        stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    result = json.loads(out)
    return {"callers": [_heard(record) for record in result["callers"]],
            "loop_lag_ms": result["loop_lag_ms"]}


def _heard(record: dict[str, Any]) -> SimpleNamespace:
    frames = [bytes.fromhex(frame) for frame in record.pop("turn_first_frames")]
    return SimpleNamespace(**record, turn_first_frames=frames)


def _caller(url: str, delay_s: float = 0.0) -> SimulatedCaller:
    """A caller who, once greeted, waits `delay_s` in silence, then talks: three turns, then
    one that barges in 700 ms into the agent's reply."""
    speech = [Utterance(mulaw=tone(900) + silence(40)) for _ in range(TURNS)]
    speech[0] = Utterance(mulaw=silence(round(delay_s * 1000)) + speech[0].mulaw)
    barge = Utterance(mulaw=tone(900) + silence(40), barge_in_after_ms=700)
    return SimulatedCaller(CallerOptions(url=url, utterances=[*speech, barge],
                                         reply_timeout_s=15.0))


def _latencies(callers: list[SimulatedCaller]) -> dict[str, Any]:
    """Voice-to-voice as the caller hears it: its speech end -> the reply's first frame."""
    values = []
    for caller in callers:
        for record in caller.speech[:TURNS]:
            start = next((t for t in caller.turn_starts if t > record["end"]), None)
            if start is not None:
                values.append((start - record["end"]) * 1000)
    return {"voice_to_voice_ms": spread(values)}


def _overheads(callers: list[SimulatedCaller], deepgram: FakeDeepgram,
               groq: FakeGroq) -> list[float]:
    return [sum(gaps) for gaps in _handoff_gaps(callers, deepgram, groq)]


def _gap_breakdown(callers: list[SimulatedCaller], deepgram: FakeDeepgram,
                   groq: FakeGroq) -> dict[str, Any]:
    """Which hand-off the overhead sits in: p50/p95 of each of the three gaps."""
    gaps = _handoff_gaps(callers, deepgram, groq)
    names = ("final_to_llm_request", "first_chunk_to_tts_request", "tts_byte_to_caller_frame")
    return {name: spread([g[i] for g in gaps]) for i, name in enumerate(names)}


def _handoff_gaps(callers: list[SimulatedCaller], deepgram: FakeDeepgram,
                  groq: FakeGroq) -> list[tuple[float, float, float]]:
    """The three gaps of each reply. The fake recognizer hands out its script in order to
    whichever call finishes an utterance first, so the same text can occur in two calls at
    once: each hand-off is paired with the nearest matching event on the right side of it."""
    heard = _times_by_key((frame, caller.started_at + at) for caller in callers
                          for frame, at in zip(caller.turn_first_frames, caller.turn_starts,
                                               strict=False))
    finals = _times_by_key(deepgram.finals_sent)
    speaks = _times_by_key((r.text, r) for r in deepgram.tts_requests)
    gaps = []
    for response in groq.responses:
        request, (sentence, sentence_end) = response.request, _first_chunk(response)
        final_at = _last_before(finals.get(request.messages[-1]["content"], []),
                                request.received)
        speak = _first_after(speaks.get(sentence, []), sentence_end,
                             key=lambda r: r.received_at)
        if None in (final_at, sentence_end, speak) or speak.first_byte_at is None:
            continue
        frame_at = _first_after(heard.get(deepgram.audio_for(sentence)[:160], []),
                                speak.first_byte_at)
        if frame_at is not None:
            gaps.append(((request.received - final_at) * 1000,
                         (speak.received_at - sentence_end) * 1000,
                         (frame_at - speak.first_byte_at) * 1000))
    return gaps


def _first_chunk(response: GroqResponse) -> tuple[str, float | None]:
    """The reply's first chunk, as the server's chunker cut it, and when its last token was sent."""
    chunker = SentenceChunker()
    for token in response.tokens:
        if chunks := chunker.feed(token.text):
            return chunks[0], token.at
    return "", None


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
        barge = next((r for r in caller.speech if r["barge_in"]), None)
        clear = next((c for c in caller.clears if barge and c >= barge["start"]), None)
        if barge is None or clear is None:
            continue
        latencies.append((clear - barge["start"]) * 1000)
        leaked += sum(1 for t in caller.received_at if clear < t < barge["end"])
    return {"barge_in_ms": spread(latencies), "frames_after_clear": leaked}


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
        times, turns = caller.received_at, set(caller.turn_starts)
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
    args = parser.parse_args()
    stagger_s = 0.0 if args.aligned else STAGGER_S
    cores = split_cores(args.shared_cores)
    results = [asyncio.run(run(n, stagger_s, cores))
               for n in (args.calls or [1])]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
