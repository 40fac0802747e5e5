"""Shared pieces of the benches: a server subprocess, its CPU and memory, percentiles."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the benches import tests.fakes (loopback vendor servers)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


def spread(values: list[float]) -> dict[str, float | int | None]:
    return {"p50": pct(values, 50), "p95": pct(values, 95), "n": len(values)}


class ServerProcess:
    """`voiceconsole serve` in its own process, so its CPU and memory are its own."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = {**os.environ, **env, "PORT": "0", "HOST": "127.0.0.1"}
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None
        self.media_url = ""

    async def start(self) -> ServerProcess:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "console.cli", "serve", cwd=self.workdir, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        assert self.proc.stdout is not None
        async with asyncio.timeout(60):
            while not self.media_url:
                line = (await self.proc.stdout.readline()).decode()
                if not line:
                    raise RuntimeError("server exited before listening")
                if match := re.search(r"media (ws://\S+/media)", line):
                    self.media_url = match.group(1).rstrip(",")
        return self

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
