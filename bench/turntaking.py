"""Turn-taking bench: how the agent handles a caller who talks over it, measured at the caller.

    python bench/turntaking.py --calls 1 --calls 50 [--json-out PATH] [--events]

JSON goes to stdout and to --json-out (default bench/results/turntaking-<time>.json); one
headline per level to stderr. `--events` adds every over-talk event's own record.

Processes (as bench/pipeline.py and bench/scaling.py): the server (`serve`'s runtime through
bench/probe_server.py, which adds an event-loop lag probe) on one core of its own; the fakes
(Deepgram, Groq) in this process and the callers in bench/turntaking_caller.py, on the other core.
The server runs with its default settings (the JSON's `settings_from_environment` lists any this
shell's environment overrides); the fake Deepgram with its default (realistic) cadence.

Each call: the greeting, then TURNS (4) turns. A turn: the caller asks a question (real speech)
and the agent answers with a long reply (4 sentences, ~8.6 s); 1.0-3.5 s after the reply's first
frame reached it, the caller talks over it once, with, cycling along the call and shifted by one
from call to call: (a) a cough (noise, transcript ""), (b) a backchannel "mhm", (c) the command
"Stop.", (d) a real interruption (real speech, "wait I have a question about that"). Then it is
silent until the agent has been quiet for 4 s. Callers start at seeded random moments within 6 s
after their greeting, as pipeline.py's do. The fake recogniser gives each utterance the
transcript of what was said (keyed by its first frame), so 50 calls can share one fake.

Measured at the caller (one clock per caller; seconds since its call started):
- onset: when the caller sent the over-talk's first frame. Every clip starts on a voiced frame
  (tests.speech.voiced_spans), so that frame is where the caller's voice begins.
- barge_in_ms: onset -> the first `clear` the caller received at or after it (before the next
  question). An event with no clear counts as `missed` for its kind.
- Lost words (coughs, backchannels): the fake TTS makes each sentence's audio unique noise
  (`audio_for(text)`), so the caller's speaker record (playout.heard: what played, with audio a
  clear dropped removed) shows which sentences it heard. A reply is complete when each of its
  sentences' full audio played without a break, i.e. a cut sentence was sent again from its start.
  `false_interruptions.share_complete` is the share of complete replies.
- longest silence in a reply: the longest run of silence on the caller's speaker from the reply's
  first frame to the end of its last frame that played (a clear's gap, a slow resume, a slow next
  sentence); "resumed" = replies that a clear cut and that went on after it, "any" = every
  cough/backchannel reply.
- answered (command, interruption): agent audio after the onset that is not the long reply and
  not a holding phrase ("One moment.") reached the caller.
- frames_after_clear: frames the caller received after a clear that belong to audio the server
  had cancelled. After a command or real interruption: any frame of the long reply. After a
  cough or backchannel: a frame of the long reply that is neither the first frame of a sentence
  nor the frame following the previous frame of a sentence received after that clear (a
  resume restarts the cut sentence, so anything else is the cut audio's tail). Counted after
  every clear between the onset and the next question. Target 0.
- errors: what the callers logged (no long reply, an agent that never went quiet, protocol).

Server side: CPU seconds (utime + stime) and RSS of the server process over the callers' run
only, per call; event-loop lag (oversleep of a 10 ms sleep); frames its pacer sent late.

Checks on the run itself: `recogniser_finals` (per transcript: 4 questions and one of each
over-talk per call, or an utterance got the wrong transcript or was split); the loop lag of the
fakes and the callers (it delays their timestamps); `other_processes_cpu_s`, CPU the machine
spent outside the bench's processes during the run: another job on these 2 cores (a test suite)
delays every process here, so runs with tens of seconds of it are not comparable (up to ~10 s
either way is accounting noise: /proc/stat samples ticks on a VM, per-process times do not).
`targets`: the issue's targets met or not; CPU is compared with BASELINE_CPU_S_PER_CALL
(commit 3b8a919) at 50 calls only.

`--stand-in-audio` (tones and a noise burst instead of tests.speech) exists only for the runs
made before tests.speech did; its numbers are not comparable with real speech.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import (  # noqa: I001 - sets sys.path
    CLOCK_TICKS,
    ServerProcess,
    pct,
    save_results,
    split_cores,
    spread,
)
from pipeline import _server_playout
from probe_server import LagProbe
from scaling import SETTLE_S, ProbedServer
from turntaking_scenario import FALSE_KINDS, KINDS, REAL_KINDS, load_voice, reply_for

from tests.fakes.deepgram_fake import FakeDeepgram
from tests.fakes.groq_fake import FakeGroq

WORKER = Path(__file__).with_name("turntaking_caller.py")
# Server CPU seconds per call on commit 3b8a919 (the call code before the turn-taking rewrite)
# with this bench, the realistic fake and this 2-core machine: the median of three runs at 50
# calls (0.371, 0.396, 0.406; run to run it moves by about 10 %).
BASELINE_CPU_S_PER_CALL = {50: 0.396}
STAGGER_S = 6.0  # as pipeline.py: under the profiles' 8 s idle reprompt


class KeyedDeepgram(FakeDeepgram):
    """The fake Deepgram, giving each utterance the transcript of what was said rather than the
    next line of one shared script: 50 calls talk at random moments, and a script would hand
    one call's cough the words of another's question. An utterance is known by its first frame,
    which the server forwards unchanged."""

    def __init__(self, transcripts: dict[bytes, str], **options: Any) -> None:
        super().__init__(**options)
        self._keys = transcripts
        self._saying: dict[int, str] = {}  # listen connection -> transcript of its utterance
        self._feeding = 0  # the connection whose audio is being recognised right now

    async def _on_audio(self, ws: Any, rec: Any, data: bytes) -> bool:
        for key, text in self._keys.items():
            if key in data:
                self._saying[rec.connection] = text
        self._feeding = rec.connection  # read by next_transcript(), within the same call
        return await super()._on_audio(ws, rec, data)

    def next_transcript(self) -> str:
        return self._saying.get(self._feeding, "")

    def transcript_done(self) -> None:
        pass  # nothing to advance: transcripts follow the audio


async def run(calls: int, stand_in: bool, cores: dict[str, list[int]] | None,
              keep_events: bool = False) -> dict[str, Any]:
    voice = load_voice(stand_in)
    async with KeyedDeepgram(voice.transcripts()) as deepgram, \
            FakeGroq(reply=reply_for, first_token_ms=150, tokens_per_s=200) as groq:
        with tempfile.TemporaryDirectory() as workdir:
            server = await ProbedServer(_server_env(deepgram, groq, workdir), Path(workdir),
                                        console=False,
                                        cores=cores and cores["server"]).start()
            try:
                measured = await _measure(server, calls, stand_in, deepgram.opts.ms_per_char)
            finally:
                await server.stop()
            lag = server.lag()  # both read before the temporary directory goes
            playout = _server_playout(Path(workdir) / "bench.db")
    measured["llm_requests_per_call"] = round(len(groq.requests) / calls, 2)  # (speculation)
    return _report(calls, cores, measured, deepgram, {"playout": playout, "lag": lag},
                   keep_events)


def _report(calls: int, cores: dict[str, list[int]] | None, measured: dict[str, Any],
            deepgram: FakeDeepgram, server: dict[str, Any], keep_events: bool) -> dict[str, Any]:
    heard = measured.pop("heard")
    result = {
        "calls": calls, "cores": cores or "shared", "audio": heard["audio"],
        "settings_from_environment": inherited_settings(), **measured,
        **summarise(heard["events"]),
        "recogniser_finals": _finals(deepgram),
        "server_playout": server["playout"],
        "server_loop_lag_ms": _lag_brief(server["lag"]),
        "callers_loop_lag_ms": _lag_brief(heard["loop_lag_ms"]),
        "errors": _errors(heard["errors"]),
        **({"event_records": heard["events"]} if keep_events else {}),
    }
    return {**result, "targets": targets(result)}


def inherited_settings() -> list[str]:
    """Server settings this shell's environment sets (the server inherits it): the run is then
    not on default settings, and the JSON says so."""
    from console.config.names import VENDOR_NAMES

    ours = {"DEEPGRAM_API_KEY", "VOICECONSOLE_DEEPGRAM_BASE_URL", "GROQ_API_KEY",
            "VOICECONSOLE_GROQ_BASE_URL", "VOICECONSOLE_DATA_DB", "VOICECONSOLE_SERVER_PORT",
            "VOICECONSOLE_SERVER_HOST"}
    names = set(VENDOR_NAMES) | {name for name in os.environ if name.startswith("VOICECONSOLE_")}
    return sorted(name for name in names - ours if name in os.environ)


def _server_env(deepgram: FakeDeepgram, groq: FakeGroq, workdir: str) -> dict[str, str]:
    """Vendor URLs and keys only: every turn-taking setting stays at its default."""
    return {
        "DEEPGRAM_API_KEY": deepgram.api_key, "VOICECONSOLE_DEEPGRAM_BASE_URL": deepgram.base_url,
        "GROQ_API_KEY": groq.api_key, "VOICECONSOLE_GROQ_BASE_URL": groq.base_url,
        "VOICECONSOLE_DATA_DB": f"{workdir}/bench.db",
    }


async def _measure(server: ProbedServer, calls: int, stand_in: bool,
                   ms_per_char: float) -> dict[str, Any]:
    cpu_before, mem_before = server.cpu_seconds(), server.memory_mb()
    server.restart_lag_samples()
    fakes_lag = LagProbe()
    probing = asyncio.create_task(fakes_lag.run(), name="fakes-lag-probe")
    started, host = time.monotonic(), HostCpu()
    try:
        heard = await _run_callers(server, calls, stand_in, ms_per_char)
    finally:
        probing.cancel()
    wall = time.monotonic() - started
    cpu, mem = server.cpu_seconds() - cpu_before, server.memory_mb()
    others = host.others(ours=cpu)
    return {
        "heard": heard,
        "wall_s": round(wall, 1),
        "cpu_s_per_call": round(cpu / calls, 3),
        "server_cpu_share": round(cpu / wall, 2),  # 1.0 = its core busy the whole time
        "rss_mb_per_call": round((mem["peak"] - mem_before["rss"]) / calls, 2),
        "rss_mb": {"before": mem_before["rss"], "after": mem["rss"], "peak": mem["peak"]},
        "fakes_loop_lag_ms": _lag_brief(fakes_lag.summary()),
        # CPU that neither the server, the fakes nor the callers used: another job on the same
        # cores (a test suite) delays every process here and skews each latency above.
        "other_processes_cpu_s": round(others, 1),
    }


class HostCpu:
    """Busy CPU seconds of the whole machine (/proc/stat) since creation, and how much of it
    was not ours: this process (the fakes), its reaped children (the caller worker) and the
    server, whose seconds the caller passes in."""

    def __init__(self) -> None:
        self._busy, self._mine = _busy_ticks(), self._own_seconds()

    @staticmethod
    def _own_seconds() -> float:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime

    def others(self, ours: float) -> float:
        busy = (_busy_ticks() - self._busy) / CLOCK_TICKS
        return busy - ours - (self._own_seconds() - self._mine)


def _busy_ticks() -> int:
    """user + nice + system + irq + softirq + steal, over every core."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return user + nice + system + irq + softirq + steal


async def _run_callers(server: ServerProcess, calls: int, stand_in: bool,
                       ms_per_char: float) -> dict[str, Any]:
    argv = [sys.executable, str(WORKER), server.media_url, str(calls), str(STAGGER_S),
            str(ms_per_char)] + (["--stand-in-audio"] if stand_in else [])
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the caller worker failed ({proc.returncode})")
    return json.loads(out)


# --- summaries ----------------------------------------------------------------------------------


def summarise(events: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind = {kind: [e for e in events if e["kind"] == kind] for kind in KINDS}
    false = [e for kind in FALSE_KINDS for e in by_kind[kind]]
    real = [e for kind in REAL_KINDS for e in by_kind[kind]]
    return {
        "events": len(events),
        "barge_in_ms": _barge_in(events, by_kind),
        "false_interruptions": _false_interruptions(false),
        "real_interruptions": _real_interruptions(real, by_kind),
        "frames_after_clear": _frames_after_clear(events, by_kind),
    }


def _barge_in(events: list[dict[str, Any]], by_kind: dict[str, list]) -> dict[str, Any]:
    def one(group: list[dict[str, Any]]) -> dict[str, Any]:
        values = [e["barge_in_ms"] for e in group if e["barge_in_ms"] is not None]
        return {**spread(values), "missed": len(group) - len(values)}

    return {**one(events), "by_kind": {kind: one(group) for kind, group in by_kind.items()}}


def _false_interruptions(false: list[dict[str, Any]]) -> dict[str, Any]:
    complete = [e for e in false if not e["lost_sentences"]]
    resumed = [e for e in false if e["resumed"]]
    return {
        "replies": len(false),
        "complete": len(complete),
        "share_complete": _share(len(complete), len(false)),
        "cut_by_a_clear": sum(1 for e in false if e["clears"]),
        "resumed_after_the_clear": len(resumed),
        "with_repeated_sentences": sum(1 for e in false if e["repeated_sentences"]),
        "answered_anyway": sum(1 for e in false if e["answered"]),
        "longest_silence_in_resumed_reply_ms": _silences(resumed),
        "longest_silence_in_any_reply_ms": _silences(false),
    }


def _silences(events: list[dict[str, Any]]) -> dict[str, Any]:
    values = [e["longest_silence_ms"] for e in events if e["longest_silence_ms"] is not None]
    return {"p50": pct(values, 50), "p95": pct(values, 95),
            "max": max(values, default=None), "n": len(values)}


def _real_interruptions(real: list[dict[str, Any]], by_kind: dict[str, list]) -> dict[str, Any]:
    def one(group: list[dict[str, Any]]) -> dict[str, Any]:
        answered = sum(1 for e in group if e["answered"])
        stale = [e["frames_after_clear"] for e in group if e["frames_after_clear"] is not None]
        return {"events": len(group), "answered": answered,
                "share_answered": _share(answered, len(group)),
                "cut_reply_frames_after_clear": sum(stale)}

    return {**one(real), "by_kind": {kind: one(by_kind[kind]) for kind in REAL_KINDS}}


def _frames_after_clear(events: list[dict[str, Any]], by_kind: dict[str, list]) -> dict[str, Any]:
    def one(group: list[dict[str, Any]]) -> dict[str, Any]:
        values = [e["frames_after_clear"] for e in group if e["frames_after_clear"] is not None]
        return {"total": sum(values), "max": max(values, default=None),
                "events_with_a_clear": len(values)}

    return {**one(events), "by_kind": {kind: one(group) for kind, group in by_kind.items()}}


def targets(result: dict[str, Any]) -> dict[str, bool | None]:
    """The issue's targets, met or not (None: nothing to judge, e.g. no resumed reply)."""
    barge, false = result["barge_in_ms"], result["false_interruptions"]
    silence = false["longest_silence_in_resumed_reply_ms"]["p95"]
    baseline = BASELINE_CPU_S_PER_CALL.get(result["calls"])
    return {
        "barge_in_p95_within_60_ms": barge["p95"] is not None and barge["p95"] <= 60
        and barge["missed"] == 0,
        "no_word_lost_after_cough_or_backchannel": false["share_complete"] == 1.0,
        "resumed_reply_silence_p95_within_800_ms": None if silence is None else silence <= 800,
        "no_frames_after_clear": result["frames_after_clear"]["total"] == 0,
        "cpu_within_25_percent_of_3b8a919":
            None if baseline is None else result["cpu_s_per_call"] <= 1.25 * baseline,
    }


def _finals(deepgram: FakeDeepgram) -> dict[str, int]:
    """Finals the fake recogniser sent, by transcript: per call, one per question and one per
    over-talk, when every utterance got its own transcript and none was split in two."""
    return dict(Counter(text for text, _ in deepgram.finals_sent))


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _lag_brief(lag: dict[str, Any]) -> dict[str, Any]:
    return {k: lag.get(k) for k in ("p50", "p95", "p99", "max", "n", "spikes_at_s_ms")}


def _errors(per_caller: list[list[str]]) -> dict[str, Any]:
    failed = [errors for errors in per_caller if errors]
    return {"calls_with_errors": len(failed), "count": sum(map(len, failed)),
            "sample": [e for errors in failed for e in errors][:5]}


# --- entry point --------------------------------------------------------------------------------


async def sweep(counts: list[int], stand_in: bool, cores: dict[str, list[int]] | None,
                keep_events: bool) -> list[dict[str, Any]]:
    results = []
    for n, calls in enumerate(counts):
        if n:
            await asyncio.sleep(SETTLE_S)  # not synchronisation: lets the old server go
        results.append(await run(calls, stand_in, cores, keep_events))
        print(json.dumps(_headline(results[-1])), file=sys.stderr, flush=True)
    return results


def _headline(result: dict[str, Any]) -> dict[str, Any]:
    return {"calls": result["calls"], "barge_in_p95": result["barge_in_ms"]["p95"],
            "complete": result["false_interruptions"]["share_complete"],
            "answered": result["real_interruptions"]["share_answered"],
            "frames_after_clear": result["frames_after_clear"]["total"],
            "cpu_s_per_call": result["cpu_s_per_call"],
            "errors": result["errors"]["count"],
            "other_processes_cpu_s": result["other_processes_cpu_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, action="append", help="concurrent calls (repeat)")
    parser.add_argument("--json-out", type=Path, help="write the JSON here "
                        "(default: bench/results/turntaking-<time>.json)")
    parser.add_argument("--stand-in-audio", action="store_true",
                        help="tones instead of tests.speech (only for runs before it existed)")
    parser.add_argument("--events", action="store_true",
                        help="add every over-talk event's own record to the JSON")
    parser.add_argument("--shared-cores", action="store_true",
                        help="let the server, fakes and callers share every core")
    args = parser.parse_args()
    cores = split_cores(args.shared_cores)
    results = asyncio.run(sweep(args.calls or [1], args.stand_in_audio, cores,
                                  args.events))
    path = save_results("turntaking", results, args.json_out)
    print(json.dumps(results, indent=2))
    print(f"saved {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
