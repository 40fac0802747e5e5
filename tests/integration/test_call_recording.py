"""Call recordings over the real server: the simulated caller's speaker (`caller.playout.heard`)
is what the caller heard; the recording's right channel must be that, within a frame, the
profile's recording announcement, a barge-in cut and operator speech included, and its left
channel what the caller said (less a redacted span)."""

from __future__ import annotations

import asyncio
import os
import stat
import time

import pytest

from console import locations
from console.profiles import load_profile
from console.storage.repository import CallRepository
from tests.integration.conftest import Watch, spoken, start_cloud_stack, stop_cloud_stack
from tests.recording_check import (
    FRAME,
    find_near,
    mismatches,
    pcm,
    read_stereo,
    sound_runs,
    span_redacted,
)

LONG = ("We are open every weekday from eight in the morning. "
        "On Saturdays we open at nine and close at noon. ") * 2
NURSE = "This is the clinic nurse speaking."
ANNOUNCEMENT = "This call may be recorded."


@pytest.fixture
def announcing(tmp_path, monkeypatch):
    """The shipped scheduling profile, edited to require a recording announcement."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    shipped = (locations.bundled_profiles_dir() / "scheduling.toml").read_text(encoding="utf-8")
    (folder / "scheduling.toml").write_text(f'recording_announcement = "{ANNOUNCEMENT}"\n'
                                            + shipped, encoding="utf-8")
    monkeypatch.setattr(locations, "profiles_dir", lambda: folder)


def epoch_of(caller, elapsed: float) -> float:
    """A time the caller took (seconds since its call started) on the wall clock."""
    return time.time() - (time.monotonic() - (caller.started_at + elapsed))


async def test_the_recording_is_what_the_caller_heard_announcement_cut_and_operator_included(
        tmp_path, announcing):
    stack, parts = await start_cloud_stack(tmp_path, script=["tell me your hours", "wait stop"])
    try:
        stack.groq.reply = [LONG, "Sure, go ahead."]
        watch = Watch(stack.runtime.bus)
        first, barge = spoken(), spoken(900, barge_in_after_ms=800)
        caller = stack.caller(first, barge, reply_timeout_s=6.0)
        call = asyncio.create_task(caller.run())
        sid = caller.options.call_sid
        await watch.until(lambda: len(caller.log.speech) == 2 and "end" in caller.log.speech[1], 15)
        # Redacted once its audio is on disk (flushed each second): the file is muted in place.
        said = caller.log.speech[0]
        stack.runtime.bus.publish(span_redacted(
            sid, epoch_of(caller, said["start"]), epoch_of(caller, said["end"])))
        await stack.runtime.control.say(sid, NURSE, "test")
        await call
        await watch.until(lambda: watch.of("RecordingSaved"), 5)
    finally:
        await stop_cloud_stack(parts)

    saved = watch.of("RecordingSaved")[0]
    assert stat.S_IMODE(os.stat(saved.path).st_mode) == 0o600
    stored = CallRepository(tmp_path / "calls.db").get_call(sid)
    assert (stored.recording_path, stored.recording_seconds) == (saved.path, saved.seconds)
    left, right = read_stereo(saved.path)
    heard = pcm(bytes(caller.playout.heard))
    opening = pcm(stack.deepgram.audio_for(f"{ANNOUNCEMENT} {load_profile('scheduling').greeting}"))
    assert find_near(heard, opening[:800], sound_runs(heard)[0][0]) is not None, "heard first"
    assert caller.log.clears, "the barge-in cut the reply"
    assert find_near(heard, pcm(stack.deepgram.audio_for(NURSE))[:800], len(heard) // 2,
                     len(heard)) is not None, "the operator's words were heard"
    assert mismatches(right, heard) == []
    assert abs(saved.seconds - len(left) / 8000) < 0.01
    # The caller's barge-in is on the left where they said it; the redacted first words are gone.
    speech = pcm(barge.mulaw)
    at = int(caller.log.speech[1]["start"] * 8000)
    assert find_near(left, speech, at) is not None
    muted = left[int(said["start"] * 8000) - FRAME: int(said["end"] * 8000) + FRAME]
    assert not muted.any()
