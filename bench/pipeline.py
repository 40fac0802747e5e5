"""Conversation pipeline bench: N simulated calls against loopback fakes with fixed latencies.

Fakes (in this process): Deepgram with 300 ms endpointing and TTS first byte 80 ms, Groq with
first token 150 ms at 200 tokens/s. The voiceconsole server runs in its own process, so its CPU
and memory are measured alone. Each call: greeting, three caller turns, then a barge-in.

Own overhead = the three hand-off gaps timed at the fakes and the caller (one clock,
time.monotonic, shared by every process on Linux):
  final transcript sent -> LLM request received
  end of the LLM's first sentence sent -> TTS request received
  TTS first byte sent -> first media frame received by the caller

    python bench/pipeline.py --calls 1 --calls 50 [--barge-in-words 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ServerProcess, spread  # noqa: I001 - sets sys.path for tests.fakes

from console.simulate.caller import CallerOptions, SimulatedCaller, Utterance
from tests.fakes.deepgram_fake import FakeDeepgram, silence, tone
from tests.fakes.groq_fake import FakeGroq

TURNS = 3
REPLY = ("Okay, noted {uid}. We are open on weekdays from eight in the morning until six, "
         "and on Saturdays from nine until noon. Is there anything else?")


def reply_for(request: Any) -> str:
    """Each reply's first sentence names the utterance it answers, so its TTS request and the
    frame the caller hears can be traced back to one turn of one call."""
    last = request.messages[-1]["content"]
    uid = re.search(r"number (\d+)", last)
    return REPLY.format(uid=uid.group(1) if uid else "0")


async def run(calls: int, barge_in_words: int) -> dict[str, Any]:
    script = [f"this is caller line number {i} about my booking" for i in range(calls * 10)]
    async with FakeDeepgram(script=script, first_byte_ms=80, ms_per_char=60) as deepgram, \
            FakeGroq(reply=reply_for, first_token_ms=150, tokens_per_s=200) as groq:
        with tempfile.TemporaryDirectory() as workdir:
            server = await ServerProcess(_server_env(deepgram, groq, workdir, barge_in_words),
                                         Path(workdir)).start()
            try:
                cpu_before, mem_before = server.cpu_seconds(), server.memory_mb()
                callers = [_caller(server.media_url) for _ in range(calls)]
                started = time.monotonic()
                await asyncio.gather(*(c.run() for c in callers))
                wall = time.monotonic() - started
                cpu = server.cpu_seconds() - cpu_before
                mem = server.memory_mb()
            finally:
                await server.stop()
            playout = _server_playout(Path(workdir) / "bench.db")
        return {
            "calls": calls,
            "barge_in_min_words": barge_in_words,
            "wall_s": round(wall, 1),
            **_latencies(callers),
            "own_overhead_ms": spread(_overheads(callers, deepgram, groq)),
            **_barge_ins(callers),
            "pacing_jitter_ms_p99": _jitter_p99(callers),
            "server_playout": playout,
            "cpu_s_per_call": round(cpu / calls, 3),
            "rss_mb": {"before": mem_before["rss"], "after": mem["rss"], "peak": mem["peak"],
                       "growth_per_call": round((mem["peak"] - mem_before["rss"]) / calls, 2)},
        }


def _server_env(deepgram: FakeDeepgram, groq: FakeGroq, workdir: str,
                barge_in_words: int) -> dict[str, str]:
    return {
        "DEEPGRAM_API_KEY": deepgram.api_key, "DEEPGRAM_BASE_URL": deepgram.base_url,
        "GROQ_API_KEY": groq.api_key, "GROQ_BASE_URL": groq.base_url,
        "VOICECONSOLE_DB": f"{workdir}/bench.db",
        "BARGE_IN_MIN_WORDS": str(barge_in_words),
    }


def _caller(url: str) -> SimulatedCaller:
    speech = [Utterance(mulaw=tone(900) + silence(40)) for _ in range(TURNS)]
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
    heard = _first_frames_heard(callers)
    finals = dict(deepgram.finals_sent)
    tts = {r.text: r for r in deepgram.tts_requests}
    gaps = []
    for response in groq.responses:
        request = response.request
        final_at = finals.get(request.messages[-1]["content"])
        sentence_end = response.first_sentence_sent_at()
        sentence = reply_for(request).split(". ")[0] + "."
        speak = tts.get(sentence)
        frame_at = heard.get(deepgram.audio_for(sentence)[:160])
        if None in (final_at, sentence_end, speak, frame_at) or speak.first_byte_at is None:
            continue
        gaps.append(((request.received - final_at) + (speak.received_at - sentence_end)
                     + (frame_at - speak.first_byte_at)) * 1000)
    return gaps


def _first_frames_heard(callers: list[SimulatedCaller]) -> dict[bytes, float]:
    heard = {}
    for caller in callers:
        for frame, at in zip(caller.turn_first_frames, caller.turn_starts, strict=False):
            heard[frame] = caller.started_at + at
    return heard


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
    parser.add_argument("--barge-in-words", type=int, default=2,
                        help="BARGE_IN_MIN_WORDS for the server (0 = on any speech)")
    args = parser.parse_args()
    results = [asyncio.run(run(n, args.barge_in_words)) for n in (args.calls or [1])]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
