"""Crash safety of the whole product: a real `voiceconsole serve` process, killed with SIGKILL in
the middle of a call, loses no finished turn and no event published before the kill; the next
`serve` on the same database marks that call `interrupted`, as `voiceconsole calls show` shows.

(The store writer alone, killed after a flush, is covered by test_store_durability.py; this is
the same promise kept by the product end to end, with the real SDKs against loopback fakes.)
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from console.simulate.caller import CallerOptions, SimulatedCaller
from console.storage.records import CallDetail
from console.storage.repository import CallRepository
from tests.fakes.deepgram_fake import FakeDeepgram
from tests.fakes.groq_fake import FakeGroq
from tests.integration.conftest import spoken

pytestmark = pytest.mark.timeout(60)

FIRST, SECOND = "I would like to book a cleaning", "next Tuesday if you can"
REPLY = "Sure. Which day suits you?"
GREETING_START = "Thanks for calling Maple Street Dental"


@asynccontextmanager
async def serve(env: dict[str, str], workdir: Path) -> AsyncIterator[tuple[Any, str]]:
    """`voiceconsole serve` in its own process; yields (process, media URL)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console.cli", "serve", cwd=workdir, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        yield proc, await _media_url(proc)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _media_url(proc: Any) -> str:
    async with asyncio.timeout(30):
        while line := (await proc.stdout.readline()).decode():
            if match := re.search(r"media (ws://\S+/media)", line):
                return match.group(1).rstrip(",")
    raise AssertionError("serve exited before it was listening")


def _server_env(deepgram: FakeDeepgram, groq: FakeGroq, db: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "PUBLIC_"))}
    return {**keep, "DEEPGRAM_API_KEY": deepgram.api_key,
            "VOICECONSOLE_DEEPGRAM_BASE_URL": deepgram.base_url,
            "GROQ_API_KEY": groq.api_key, "VOICECONSOLE_GROQ_BASE_URL": groq.base_url,
            "VOICECONSOLE_DATA_DB": str(db), "VOICECONSOLE_SERVER_PORT": "0",
            "VOICECONSOLE_SERVER_HOST": "127.0.0.1"}


def _stored(db: Path, sid: str) -> CallDetail | None:
    with CallRepository(db) as repo:
        return repo.get_call(sid)


async def _until_interrupted(db: Path, sid: str, within: float = 10.0) -> None:
    """The restarted writer marks the call on its own thread: poll the file (no event to await)."""
    deadline = time.monotonic() + within
    while getattr(await asyncio.to_thread(_stored, db, sid), "status", None) != "interrupted":
        assert time.monotonic() < deadline, "the restarted server never marked the call"
        await asyncio.sleep(0.05)


def _recording_survived(folder: Path, sid: str, call_s: float) -> None:
    """Issue 14: the call's WAV, never finalized, reads back up to its last flush (each second),
    with the caller's speech on the left."""
    (path,) = folder.glob(f"*-{sid}.wav")
    with wave.open(str(path), "rb") as wav:
        assert call_s - 2.5 < wav.getnframes() / 8000 <= call_s + 0.1
        left = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")[0::2]
    assert np.abs(left).max() > 1000  # the caller's speech (a tone), not silence


async def _calls_show(env: dict[str, str], workdir: Path, sid: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console.cli", "calls", "show", sid, "--json", cwd=workdir,
        env=env, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    return json.loads(out)


async def test_sigkill_mid_call_keeps_finished_turns_and_restart_marks_the_call_interrupted(
    tmp_path: Path,
) -> None:
    db = tmp_path / "calls.db"
    async with FakeDeepgram(script=[FIRST, SECOND], ms_per_char=5) as deepgram, \
            FakeGroq(reply=REPLY) as groq:
        env = _server_env(deepgram, groq, db)
        async with serve(env, tmp_path) as (proc, url):
            caller = SimulatedCaller(CallerOptions(
                url=url, utterances=[spoken(), spoken()], reply_quiet_ms=200, max_call_s=20))
            call = asyncio.create_task(caller.run(), name="call-to-be-cut")
            # Mid-conversation: the second caller turn has reached the LLM, its reply is coming.
            await groq.wait_for(lambda: len(groq.requests) == 2, timeout=20)
            proc.send_signal(signal.SIGKILL)
            assert await proc.wait() == -signal.SIGKILL
            await call
        sid = caller.options.call_sid

        survived = await asyncio.to_thread(_stored, db, sid)
        assert survived is not None and survived.status == "live"
        turns = [(t.role, t.text) for t in survived.turns]
        assert turns[0][0] == "agent" and turns[0][1].startswith(GREETING_START)
        assert turns[1:3] == [("caller", FIRST), ("agent", REPLY)]  # every finished turn
        kinds = [e.kind for e in survived.events]
        for kind in ("CallStarted", "CallerTranscribed", "TurnCompleted", "TurnMeasured"):
            assert kind in kinds
        assert kinds.count("AgentSpoke") >= 3  # the greeting and both sentences of the reply
        _recording_survived(tmp_path / "recordings", sid, caller.log.duration)

        async with serve(env, tmp_path):
            await _until_interrupted(db, sid)
            shown = await _calls_show(env, tmp_path, sid)
        assert (shown["status"], shown["end_reason"]) == ("interrupted", "interrupted")
        assert shown["turns"][:3] == [turn.to_json() for turn in survived.turns[:3]]
        assert shown["ended"] == max(e["at"] for e in shown["events"])
