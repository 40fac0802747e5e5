"""The pitch cue (console/calls/prosody.py) on real and synthetic speech: is it worth trusting?

    python bench/prosody_cue.py [--json-out PATH]

No server: the measure alone, on
- real speech (tests.speech.RECORDINGS), at the end of every voiced span (pauses of 150 ms or
  more), labelled by the texts read (below): a sentence end (a statement; questions are answered
  at once whatever the voice does) or a pause inside a sentence. Reported: the share of sentence
  ends it calls done (falling or a high rise: answered at once) and of mid-sentence pauses it
  calls level (held); both also for pauses of 300 ms or more, the ones a reply (~420 ms after the
  sound) can land in;
- the mid-sentence-pause bench's 20 fragments at 150 and 180 words a minute, cut from the whole
  sentence (its default) and said alone (the old bench): the share called level;
- bench/pipeline.py's caller turns: real speech ending at a sentence end (tests.speech.
  finished_turn, its default), and 1.2 s cut wherever the time runs out (`--turn-ends cut`):
  the share it would hold, which that bench's voice-to-voice pays;
- its cost: one call on the last 3 s a call keeps (2 s analysed), median and p95 of 200, wall
  and CPU time of the thread.

Labels. two_cities is the first sentence of A Tale of Two Cities: one sentence, so every pause
but the last is inside it (at its commas, or between words). beckett (Worstward Ho: "Ever tried.
Ever failed. No matter. Try again. Fail again. Fail better.") is six sentences, with one pause
inside "Try again". endgame_nagg_nell (two voices) is labelled by the local Whisper's text of
each span: a phrase a later one completes ("So we have..." / "still that resource.") is inside
a sentence; spans with no words (breaths, clicks) and questions are left out. The sentence ends
are tests.speech.SENTENCE_ENDS.

Results (2026-12-05, FallRule: fall 2 st under the median or a 2 st drop; high rise at or over
the median and a 2 st climb). Real sentence ends called done 21 of 21 (19 fall; "No matter."
and "ditch." rise high). Mid-sentence pauses called level 13 of 34 (5 of 18 at 300 ms or more):
the reader of two_cities rises at many of its commas, which the words hold anyway. Before the
high rise counted as done (falling only), 2 of the 21 sentence ends waited, and a one-call
pipeline run paid it at its p95. Fragments cut from the whole sentence: level 14 of 20 at 150
wpm and 19 of 20 at 180, both whole sentences among them ("I'm calling about my prescription",
"I need a refill of my inhaler") at both speeds; said alone (espeak's final fall), 5 and 6 of
20, all of them ending in a comma or a conjunction. bench/pipeline.py's turns: at sentence ends
0 of 40 level; cut anywhere, 9 of 40. Cost: p50 0.96 ms, p95 1.15 ms a call.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from common import pct, save_results  # noqa: I001 - sets sys.path
from fragments import split_sentence
from midpause import SENTENCES
from speech_calls import trimmed

from console.calls.prosody import Ending, ending_of
from console.simulate.voice import render_line
from tests import speech

END, MID = "sentence end", "inside a sentence"
YIELDING = (Ending.FALLING.value, Ending.RISING.value)  # answered at once
# Span ends (s, as tests.speech.voiced_spans finds them) -> label.
LABELS: dict[str, dict[float, str]] = {
    "two_cities": {
        **{at: MID for at in (1.87, 2.68, 3.63, 4.24, 6.17, 7.99, 10.10, 12.72, 14.61, 16.47,
                              17.93, 18.61, 19.97, 20.45, 22.40, 23.79, 25.97, 27.53, 28.26,
                              29.59, 32.22, 35.58, 36.48, 37.43, 38.33, 40.26)},
        **{at: END for at in speech.SENTENCE_ENDS["two_cities"]}},
    "beckett": {**{at: END for at in speech.SENTENCE_ENDS["beckett"]}, 4.70: MID},
    "endgame_nagg_nell": {
        **{at: END for at in speech.SENTENCE_ENDS["endgame_nagg_nell"]},
        **{at: MID for at in (6.70, 10.30, 13.38, 15.17, 16.42, 26.66, 26.90)}},
}  # fmt: skip
ANALYSED_BYTES = 16000  # 2 s before the span's end
AFTER_BYTES = 1600  # and 200 ms of the pause after it
REPLY_LANDS_S = 0.3  # pauses shorter than this end before a prepared reply could be heard
KEPT_BYTES = 24000  # what a call keeps (console/calls/ear.py RECENT_FRAMES: 3 s)


def real_speech() -> dict[str, Any]:
    rows = []
    for name, labels in LABELS.items():
        audio = speech.recording(name)
        spans = speech.voiced_spans(audio)
        for index, (_, end) in enumerate(spans):
            if (label := labels.get(round(end, 2))) is None:
                continue
            pause = spans[index + 1][0] - end if index + 1 < len(spans) else None
            at = round(end * 8000)
            verdict = ending_of(audio[max(0, at - ANALYSED_BYTES) : at + AFTER_BYTES])
            rows.append({"recording": name, "at_s": round(end, 2), "label": label,
                         "pause_ms": None if pause is None else round(pause * 1000),
                         "ending": verdict.ending.value, "end_st": verdict.end_st,
                         "drop_st": verdict.drop_st})  # fmt: skip
    return {"all": _shares(rows), "pauses_of_300_ms_or_more": _shares(
        [r for r in rows if r["pause_ms"] is None or r["pause_ms"] >= REPLY_LANDS_S * 1000]),
        "spans": rows}


def _shares(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ends = [r for r in rows if r["label"] == END]
    mids = [r for r in rows if r["label"] == MID]
    done = sum(r["ending"] in YIELDING for r in ends)
    held = sum(r["ending"] == Ending.LEVEL.value for r in mids)
    return {"sentence_ends_called_done": f"{done}/{len(ends)}",
            "sentence_ends_done_share": round(done / len(ends), 2) if ends else None,
            "mid_sentence_pauses_called_level": f"{held}/{len(mids)}",
            "mid_sentence_level_share": round(held / len(mids), 2) if mids else None}


def fragments() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for wpm in (150, 180):
        for mode in ("whole", "alone"):
            rows = [_fragment(kind, fragment, rest, wpm, mode)
                    for kind, fragment, rest in SENTENCES]  # fmt: skip
            level = sum(r["ending"] == Ending.LEVEL.value for r in rows)
            out[f"{mode}_{wpm}wpm"] = {"called_level": f"{level}/{len(rows)}",
                                       "fragments": rows}
    return out


def _fragment(kind: str, fragment: str, rest: str, wpm: int, mode: str) -> dict[str, Any]:
    if mode == "whole":
        audio = split_sentence(fragment, rest, wpm).fragment
    else:
        audio = trimmed(render_line(fragment, words_per_minute=wpm))
    verdict = ending_of(audio + speech.silence(200))
    return {"kind": kind, "fragment": fragment, "ending": verdict.ending.value,
            "end_st": verdict.end_st, "drop_st": verdict.drop_st}


def pipeline_turns(count: int = 40) -> dict[str, Any]:
    """bench/pipeline.py's turns: finished_turn (its default), and the 1.2 s cut anywhere that
    it used before (`--turn-ends cut`), seeds as it draws them."""
    def endings(turn: Callable[[int], bytes]) -> dict[str, int]:
        found = [ending_of(turn(seed) + speech.silence(200)).ending.value for seed in range(count)]
        return {"turns": count, **{e.value: found.count(e.value) for e in Ending}}

    return {"sentence_ends": endings(speech.finished_turn),
            "cut": endings(lambda seed: speech.monologue(1.2, gaps_ms=(0, 100), seed=seed))}


def cost(calls: int = 200) -> dict[str, Any]:
    audio = speech.recording("two_cities")
    clips = [audio[start : start + KEPT_BYTES] for start in range(0, 40 * 8000, 8000)]
    ending_of(clips[0])  # first call builds the tables
    wall, cpu = [], []
    for index in range(calls):
        started, started_cpu = time.perf_counter(), time.thread_time()
        ending_of(clips[index % len(clips)])
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    return {"calls": calls, "wall_ms": _spread(wall), "cpu_ms": _spread(cpu)}


def _spread(values: list[float]) -> dict[str, float | None]:
    """p50/p95/mean (the CPU time leaves out what other processes took of the core)."""
    return {"p50": pct(values, 50), "p95": pct(values, 95),
            "mean": round(float(np.mean(values)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    result = {"bench": "prosody_cue", "real_speech": real_speech(), "fragments": fragments(),
              "pipeline_turns": pipeline_turns(), "cost_per_call": cost()}
    path = save_results("prosody_cue", result, args.json_out)
    print(json.dumps(result, indent=2))
    headline = {"real": {k: v for k, v in result["real_speech"].items() if k != "spans"},
                "fragments": {k: v["called_level"] for k, v in result["fragments"].items()},
                "pipeline_turns": result["pipeline_turns"], "cost": result["cost_per_call"]}
    print(json.dumps(headline, indent=1), file=sys.stderr)
    print(f"saved {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
