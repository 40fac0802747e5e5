"""The processes of a bench/fleet.py step: a real Redis, fleet workers pinned to cores, and the
step that starts them on the fakes and stops them in order."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from pathlib import Path
from typing import Self

import redis.asyncio as aioredis
from common import CLOCK_TICKS, ServerProcess
from lean_fakes import LeanDeepgram

from console.fleet.registry import live_workers
from tests.fakes.groq_fake import FakeGroq

CAPACITY = 5000  # far above any load here: routing alone decides where calls go
STREAM_MAXLEN = 5_000_000  # every event of a run stays on the stream, for PlayoutMeasured
START_LIMIT_S = 60.0
CORES = sorted(os.sched_getaffinity(0))  # worker i is pinned to CORES[i]


class RedisProcess:
    """redis-server on a free loopback port in `folder`, saving nothing (tests/fleet/conftest.py
    starts them the same way)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> Self:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install "
                               "redis-server; `make test` installs it)")
        self.proc = await asyncio.create_subprocess_exec(
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--save", "", "--appendonly", "no", stdout=asyncio.subprocess.DEVNULL)
        client = aioredis.Redis.from_url(self.url)
        try:
            async with asyncio.timeout(10):
                while not await _answers(client):  # noqa: ASYNC110 - another process
                    await asyncio.sleep(0.05)  # a process starting: nothing to wait on
        finally:
            await client.aclose()
        return self

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        return _cpu_seconds(self.proc.pid)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def _answers(client: aioredis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except (OSError, aioredis.ConnectionError):
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


class Worker(ServerProcess):
    """`voiceconsole serve` as fleet worker `name`, on a core of its own."""

    def __init__(self, name: str, env: dict[str, str], workdir: Path, core: int) -> None:
        workdir.mkdir()
        super().__init__(env, workdir, [core])
        self.name = name
        # No Twilio, tunnel or fleet setting of the shell leaks in: a token would turn
        # signatures on, and the callers ring unsigned.
        self.env = {k: v for k, v in self.env.items()
                    if not k.startswith(("TWILIO_", "PUBLIC_", "NGROK_", "VOICECONSOLE_"))
                    or k in env or k.startswith("VOICECONSOLE_SERVER_")}

    @property
    def voice_url(self) -> str:
        return self.media_url.replace("ws://", "http://").removesuffix("/media") + "/voice"

    async def spawn(self) -> asyncio.subprocess.Process:
        """On its core, at niceness 0 even when the bench runs niced (`--load-nice`: the load
        yields to the workers; lowering it back takes root, else the worker keeps the bench's)."""
        core = self.cores

        def placed() -> None:
            if core:
                os.sched_setaffinity(0, core)
            with contextlib.suppress(PermissionError):
                os.setpriority(os.PRIO_PROCESS, 0, 0)

        self.proc = await asyncio.create_subprocess_exec(
            *self.argv(), cwd=self.workdir, env=self.env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, preexec_fn=placed)
        return self.proc

    def niceness(self) -> int:
        assert self.proc is not None
        return int(Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _worker_env(name: str, redis_url: str, deepgram: LeanDeepgram, groq: FakeGroq,
                workdir: Path) -> dict[str, str]:
    return {
        "DEEPGRAM_API_KEY": deepgram.api_key, "VOICECONSOLE_DEEPGRAM_BASE_URL": deepgram.base_url,
        "GROQ_API_KEY": groq.api_key, "VOICECONSOLE_GROQ_BASE_URL": groq.base_url,
        "VOICECONSOLE_DATA_DB": str(workdir / name / "bench.db"),
        "XDG_CONFIG_HOME": str(workdir / "config"),
        "VOICECONSOLE_FLEET_URL": redis_url, "VOICECONSOLE_FLEET_NAME": name,
        "VOICECONSOLE_FLEET_CAPACITY": str(CAPACITY),
        "VOICECONSOLE_LIMITS_MAX_CALLS": str(CAPACITY),
        "VOICECONSOLE_FLEET_STREAM_MAXLEN": str(STREAM_MAXLEN),
    }


async def _all_beating(redis_url: str, names: set[str]) -> None:
    """Until every worker's heartbeat is in Redis: routing must see all of them from call one."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with asyncio.timeout(START_LIMIT_S):
            while {w.name for w in await live_workers(client)} < names:  # noqa: ASYNC110
                await asyncio.sleep(0.1)  # other processes' heartbeats: polled
    finally:
        await client.aclose()


class Step:
    """A fresh Redis and W fresh workers on the fakes; `calls()` runs the callers."""

    def __init__(self, workers: int, deepgram: LeanDeepgram, groq: FakeGroq,
                 workdir: Path) -> None:
        self.count, self.deepgram, self.groq, self.workdir = workers, deepgram, groq, workdir
        self.redis = RedisProcess(workdir)
        self.workers: list[Worker] = []

    async def __aenter__(self) -> Self:
        await self.redis.start()
        cores = CORES
        for index in range(self.count):
            name = f"w{index + 1}"
            env = _worker_env(name, self.redis.url, self.deepgram, self.groq, self.workdir)
            self.workers.append(Worker(name, env, self.workdir / name,
                                       cores[index % len(cores)]))
        await asyncio.gather(*(worker.start() for worker in self.workers))
        await _all_beating(self.redis.url, {w.name for w in self.workers})
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop_workers()
        await self.redis.stop()

    async def stop_workers(self) -> None:
        """In order (SIGINT): each ends its calls and publishes what is queued, PlayoutMeasured
        among it, before it exits."""
        await asyncio.gather(*(worker.stop() for worker in self.workers))

    def worker_of(self, stream_url: str) -> str:
        return next((w.name for w in self.workers if w.media_url == stream_url), "?")
