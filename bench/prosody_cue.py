"""The pitch cue (console/calls/prosody.py) on real and synthetic speech: is it worth trusting?

    python bench/prosody_cue.py [--json-out PATH]

No server: the measure alone, on
- real speech (tests.speech.RECORDINGS), at the end of every voiced span (pauses of 150 ms or
  more), labelled by the texts read (below): a sentence end (a statement; questions are answered
  at once whatever the voice does) or a pause inside a sentence. Reported: the share of sentence
  ends it calls falling (answered at once) and of mid-sentence pauses it calls not falling (held);
  both also for pauses of 300 ms or more, the ones a reply (~420 ms after the sound) can land in;
- the mid-sentence-pause bench's 20 fragments at 150 and 180 words a minute, cut from the whole
  sentence (its default) and said alone (the old bench);
- bench/pipeline.py's caller turns (1.2 s of real speech cut where the time runs out, not at a
  sentence end): the share it would hold, which that bench's voice-to-voice pays;
- its cost: one call on the last 3 s a call keeps (2 s analysed), median and p95 of 200, wall
  and CPU time of the thread.

Labels. two_cities is the first sentence of A Tale of Two Cities: one sentence, so every pause
but the last is inside it (at its commas, or between words). beckett (Worstward Ho: "Ever tried.
Ever failed. No matter. Try again. Fail again. Fail better.") is six sentences, with one pause
inside "Try again". endgame_nagg_nell (two voices) is labelled by the local Whisper's text of
each span: a phrase a later one completes ("So we have..." / "still that resource.") is inside
a sentence; spans with no words (breaths, clicks) and questions are left out.

Results (2026-12-05, FallRule 2 st / 2 st): real sentence ends called falling 19 of 21 (0.90;
14 of 15 before pauses of 300 ms or more): "No matter." (beckett) and "ditch." (endgame) end
rising, and would wait LEVEL_HOLD_S. Mid-sentence pauses called not falling 21 of 34 (0.62; 12
of 18 at 300 ms or more): the reader of two_cities pairs its clauses, rising on the first
("the age of wisdom,") and falling to low on the second ("the age of foolishness,"), and the
falls are answered at once as before. Fragments: cut from the whole sentence, 1 of 20 falling
at 150 and at 180 wpm; said alone, 11 and 12 of 20. bench/pipeline.py's turns: 18 of 40 not
falling (5 of the 12 a one-call run uses). Cost: p50 0.93 ms, p95 1.4 ms a call (CPU 0.93 /
1.1 ms), load 2.4 on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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
# Span ends (s, as tests.speech.voiced_spans finds them) -> label.
LABELS: dict[str, dict[float, str]] = {
    "two_cities": {
        **{at: MID for at in (1.87, 2.68, 3.63, 4.24, 6.17, 7.99, 10.10, 12.72, 14.61, 16.47,
                              17.93, 18.61, 19.97, 20.45, 22.40, 23.79, 25.97, 27.53, 28.26,
                              29.59, 32.22, 35.58, 36.48, 37.43, 38.33, 40.26)},
        41.63: END},
    "beckett": {1.25: END, 2.69: END, 4.10: END, 5.50: END, 7.40: END, 9.09: END, 4.70: MID},
    "endgame_nagg_nell": {
        **{at: END for at in (1.75, 4.12, 5.48, 6.10, 7.86, 11.19, 13.98, 15.66, 16.94, 19.78,
                              21.84, 23.10, 27.37, 28.27)},
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
    falling = sum(r["ending"] == Ending.FALLING.value for r in ends)
    held = sum(r["ending"] == Ending.NOT_FALLING.value for r in mids)
    return {"sentence_ends_called_falling": f"{falling}/{len(ends)}",
            "sentence_ends_falling_share": round(falling / len(ends), 2) if ends else None,
            "mid_sentence_pauses_called_not_falling": f"{held}/{len(mids)}",
            "mid_sentence_not_falling_share": round(held / len(mids), 2) if mids else None}


def fragments() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for wpm in (150, 180):
        for mode in ("whole", "alone"):
            rows = [_fragment(kind, fragment, rest, wpm, mode)
                    for kind, fragment, rest in SENTENCES]  # fmt: skip
            falling = sum(r["ending"] == Ending.FALLING.value for r in rows)
            out[f"{mode}_{wpm}wpm"] = {"called_falling": f"{falling}/{len(rows)}",
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
    """bench/pipeline.py's turns: monologue(1.2 s, gaps 0-100 ms), seeds as it draws them."""
    endings = [ending_of(speech.monologue(1.2, gaps_ms=(0, 100), seed=seed)
                         + speech.silence(200)).ending.value
               for seed in range(count)]  # fmt: skip
    return {"turns": count, **{e.value: endings.count(e.value) for e in Ending}}


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
                "fragments": {k: v["called_falling"] for k, v in result["fragments"].items()},
                "pipeline_turns": result["pipeline_turns"], "cost": result["cost_per_call"]}
    print(json.dumps(headline, indent=1), file=sys.stderr)
    print(f"saved {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
