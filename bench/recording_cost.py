"""Recording cost bench: what per-call recording adds, at N concurrent calls (default 50).

The same calls as bench/scaling.py (its fakes, script, arrivals and core split; each call: a
greeting, three turns, one barge-in), run with RECORDING_ENABLED=false and =true, alternating
(`--rounds` pairs, off first), against the real server in its own process. Per run:
- server CPU per second of call (the server process's user+system time over the calls, divided
  by the calls' total length: under load calls can run longer, with reprompts, in one run than
  in the other, so CPU per call alone would compare different work);
- late frames, as the server's pacer counts them (PlayoutMeasured: a frame sent more than 40 ms
  after its slot) and as the callers heard them (bench/scaling.py's measure);
- with recording on: the files written and their total length.

Reported: the medians over the rounds, CPU extra per call in percent (target <= 5 %), and the
late frames recording added (target zero). On a busy machine the two server runs differ by more
than recording costs, so the bench also measures the recorder alone, in this process: N calls'
worth of frames through the recorders (caller taps, agent sends, the once-a-second flush) and
the writer thread, as CPU milliseconds per second of call; compare it with the server's CPU per
second of call without recording.

    python bench/recording_cost.py                 # 50 calls, 2 rounds
    python bench/recording_cost.py --calls 10 --rounds 1

JSON goes to stdout and bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

from common import save_results, split_cores  # noqa: I001 - sets sys.path
from pipeline import STAGGER_S, _server_env, _server_playout, reply_for
from scaling import SETTLE_S, ProbedServer, _errors, _measure, late_frames

from console.config import load_settings
from console.events import EventBus
from console.recording.service import Recordings
from console.streams import StreamStart
from tests.fakes.deepgram_fake import FakeDeepgram
from tests.fakes.groq_fake import FakeGroq

TARGET_CPU_EXTRA_PERCENT = 5.0


async def run(calls: int, recording: bool, cores: dict[str, list[int]] | None) -> dict[str, Any]:
    script = [f"this is caller line number {i} about my booking" for i in range(calls * 10)]
    async with FakeDeepgram(script=script, first_byte_ms=80, ms_per_char=60) as deepgram, \
            FakeGroq(reply=reply_for, first_token_ms=150, tokens_per_s=200) as groq:
        with tempfile.TemporaryDirectory() as workdir:
            env = {**_server_env(deepgram, groq, workdir),
                   "VOICECONSOLE_RECORDING_ENABLED": "true" if recording else "false"}
            server_cores = cores and cores["server"]
            server = await ProbedServer(env, Path(workdir), False, server_cores).start()
            try:
                measured = await _measure(server, calls, STAGGER_S)
            finally:
                await server.stop()
            playout = _server_playout(Path(workdir) / "bench.db")
            files = _recordings(Path(workdir) / "recordings")
    callers = measured.pop("callers")
    call_s = sum(_length(caller) for caller in callers)
    cpu_s = measured["server_cpu_s_per_call"] * calls
    return {"recording": recording, "calls": calls, "wall_s": measured["wall_s"],
            "server_cpu_s_per_call": measured["server_cpu_s_per_call"],
            "call_seconds": round(call_s, 1),
            "server_cpu_ms_per_call_second": round(1000 * cpu_s / call_s, 3) if call_s else None,
            "server_late_frames": playout["late_frames"], "frames_sent": playout["frames_sent"],
            "heard_late_frames": late_frames(callers)["late"], "recordings": files,
            "caller_errors": _errors(callers)["calls_with_errors"]}


def _length(caller: Any) -> float:
    """A call's length as its caller saw it: until the last agent frame or its own last word."""
    ends = [*caller.log.received_at[-1:], *(r["end"] for r in caller.log.speech if "end" in r)]
    return max(ends, default=0.0)


def _recordings(folder: Path) -> dict[str, Any]:
    paths = sorted(folder.glob("*.wav")) if folder.is_dir() else []
    seconds = 0.0
    for path in paths:
        with wave.open(str(path), "rb") as wav:
            seconds += wav.getnframes() / wav.getframerate()
    return {"files": len(paths), "seconds": round(seconds, 1)}


class _NoWire:
    async def send_audio(self, mulaw: bytes) -> None: ...

    async def send_mark(self, name: str) -> None: ...

    async def send_clear(self) -> None: ...

    async def close(self, reason: str) -> None: ...


async def recorder_alone(calls: int, seconds: int = 20) -> dict[str, Any]:
    """CPU of the recorders and their writer thread for `calls` calls of `seconds` each, fed as
    fast as they take it (each recorder's clock follows its caller's frames)."""
    with tempfile.TemporaryDirectory() as workdir:
        settings = load_settings(_env_file=None, data_db=Path(workdir) / "c.db")
        recordings = Recordings(settings, EventBus())
        await recordings.start()
        recorders = [_recorder(recordings, n) for n in range(calls)]
        frame = bytes(range(160))
        cpu = time.process_time()
        for _ in range(seconds):
            for recorder in recorders:
                for _ in range(50):
                    recorder.tap("caller", frame)
                    await recorder.send_audio(frame)
                recorder.flush()
        await recordings.writer.written()
        cpu = time.process_time() - cpu
        await recordings.stop()
    return {"calls": calls, "seconds": seconds,
            "cpu_ms_per_call_second": round(1000 * cpu / (calls * seconds), 3)}


def _recorder(recordings: Recordings, n: int) -> Any:
    start = StreamStart(f"CA{n:032d}", "MZ" + "0" * 32)
    recorder = recordings.record(start, _NoWire(), None, (time.monotonic(), time.time()))
    started = recorder.clock()
    recorder.clock = lambda: started + recorder.left.end / 8000  # frames arrive on time
    return recorder


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    off = [r for r in runs if not r["recording"]]
    on = [r for r in runs if r["recording"]]

    def median(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    key = "server_cpu_ms_per_call_second"
    cpu_off, cpu_on = median(off, key), median(on, key)
    extra = 100 * (cpu_on - cpu_off) / cpu_off if cpu_off else None
    added = {key: median(on, key) - median(off, key)
             for key in ("server_late_frames", "heard_late_frames")}
    return {
        "calls": runs[0]["calls"],
        "rounds": len(on),
        "cpu_ms_per_call_second": {"off": cpu_off, "on": cpu_on},
        "cpu_extra_percent": round(extra, 1) if extra is not None else None,
        "cpu_target_met": extra is not None and extra <= TARGET_CPU_EXTRA_PERCENT,
        "late_frames_added": added,
        "late_target_met": added["server_late_frames"] <= 0,
        "runs": runs,
    }


async def sweep(calls: int, rounds: int, cores: dict[str, list[int]] | None) -> list[dict]:
    runs = []
    for _ in range(rounds):
        for recording in (False, True):
            result = await run(calls, recording, cores)
            runs.append(result)
            print(json.dumps({k: v for k, v in result.items() if k != "recordings"}),
                  file=sys.stderr, flush=True)
            await asyncio.sleep(SETTLE_S)  # not synchronisation: lets the old process go
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=50, help="concurrent calls")
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs")
    parser.add_argument("--shared-cores", action="store_true",
                        help="let the server, fakes and callers share every core")
    args = parser.parse_args()
    runs = asyncio.run(sweep(args.calls, args.rounds, split_cores(args.shared_cores)))
    alone = asyncio.run(recorder_alone(args.calls))
    result = summarize(runs)
    off_ms = result["cpu_ms_per_call_second"]["off"]  # to set the recorder's own cost against
    result["recorder_alone"] = {**alone, "server_cpu_ms_per_call_second_off": round(off_ms, 2),
                                "percent_of_a_call": round(100 * alone["cpu_ms_per_call_second"]
                                                           / off_ms, 2)}
    path = save_results("recording_cost", result)
    print(json.dumps(result, indent=2))
    print(f"saved {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
