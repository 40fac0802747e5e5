"""Shared pieces of the benches: a server subprocess, its CPU and memory, the core split,
percentiles."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the benches import tests.fakes (loopback vendor servers)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RESULTS = ROOT / "bench" / "results"  # git-ignored


def save_results(bench: str, results: Any, path: Path | None = None) -> Path:
    """Write a bench's JSON to `path`, or to bench/results/<bench>-<time>.json."""
    if path is None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{bench}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    return path


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


def spread(values: list[float]) -> dict[str, float | int | None]:
    return {"p50": pct(values, 50), "p95": pct(values, 95), "n": len(values)}


def split_cores(shared: bool = False) -> dict[str, list[int]] | None:
    """Give the server one core and move this process (the fakes, and the caller worker it
    starts later) to the others. In production Twilio, Deepgram and Groq run on other
    machines; here their stand-ins would otherwise take CPU from the server whenever the
    scheduler puts them on its core, and the bench would time the scheduler (at 100 calls the
    server's own-overhead p95 was 75-130 ms sharing both cores, 29 ms on a core of its own).
    None (no split) on a one-core machine or when `shared`."""
    cores = sorted(os.sched_getaffinity(0))
    if shared or len(cores) < 2:
        return None
    split = {"server": cores[:1], "load": cores[1:]}
    os.sched_setaffinity(0, split["load"])
    return split


def _source_path() -> str:
    """PYTHONPATH that makes the server import `console` from this checkout. The server runs in
    a temporary directory, where the shared venv's editable install would otherwise load the
    main checkout's code: a bench run from a git worktree measured another branch."""
    inherited = os.environ.get("PYTHONPATH")
    return os.pathsep.join([str(ROOT), *([inherited] if inherited else [])])


class ServerProcess:
    """`voiceconsole serve` in its own process, so its CPU and memory are its own; on `cores`
    (every thread it starts inherits them) when given."""

    startup_limit_s = 60.0

    def __init__(self, env: dict[str, str], workdir: Path,
                 cores: list[int] | None = None) -> None:
        # A bench may run another tree's code (risk_cost.py --base): its PYTHONPATH wins.
        self.env = {**os.environ, "PYTHONPATH": _source_path(), **env,
                    "VOICECONSOLE_SERVER_PORT": "0", "VOICECONSOLE_SERVER_HOST": "127.0.0.1"}
        self.workdir = workdir
        self.cores = cores
        self.proc: asyncio.subprocess.Process | None = None
        self.media_url = ""

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "console.cli", "serve"]

    async def spawn(self) -> asyncio.subprocess.Process:
        cores = self.cores
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv(), cwd=self.workdir, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None)
        return self.proc

    async def start(self) -> Self:
        proc = await self.spawn()
        try:
            await self._wait_until_listening(proc)
        except BaseException:
            proc.kill()  # never leave a half-started server behind
            raise
        return self

    async def _wait_until_listening(self, proc: asyncio.subprocess.Process) -> None:
        """Until the server prints its media URL (`serve` and bench/probe_server.py alike)."""
        assert proc.stdout is not None
        async with asyncio.timeout(self.startup_limit_s):
            while not self.media_url:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    raise RuntimeError("the server exited before listening")
                if match := re.search(r"media (ws://\S+/media)", line):
                    self.media_url = match.group(1).rstrip(",")

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def memory_mb(self) -> dict[str, float]:
        assert self.proc is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kb = {k: int(v.split()[0]) for k, v in re.findall(r"(VmRSS|VmHWM):\s+(.+)", status)}
        return {"rss": round(kb["VmRSS"] / 1024, 1), "peak": round(kb["VmHWM"] / 1024, 1)}

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(2)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
