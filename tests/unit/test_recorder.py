"""The recorder's parts without a server: the playout model, the file, retention, redaction
muting, the announcement and a failing disk. (The whole call over the real server is in
tests/integration/test_call_recording.py.)"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from console import events as ev
from console.config import load_settings
from console.profiles import ProfileError, parse_profile
from console.recording.retention import DAY_S, purge
from console.recording.service import Recordings
from console.recording.tracks import SILENCE, CallerTrack, HeardTrack
from console.recording.wavfile import StereoWav
from console.streams import StreamStart
from tests.recording_check import pcm, read_stereo, span_redacted

SID = "CA" + "1" * 32
A, B = b"\x10" * 160, b"\x20" * 160  # two distinguishable frames of "speech"


# --- the playout model ----------------------------------------------------------------------

def test_audio_sent_to_an_idle_speaker_plays_when_it_arrives_and_queues_behind_earlier_audio():
    track = HeardTrack()
    track.add(A, now=400)
    track.add(B, now=420)  # arrives while A plays: after it, not at 420
    assert track.take(800) == SILENCE * 400 + A + B + SILENCE * 80


def test_clear_drops_only_what_had_not_played_yet():
    track = HeardTrack()
    track.add(A + B, now=0)
    track.clear(now=200)  # A played, 40 samples of B played, the rest never did
    track.add(A, now=300)
    assert track.take(460) == A + B[:40] + SILENCE * 100 + A


def test_the_caller_track_is_frame_order_and_a_stall_becomes_silence():
    track = CallerTrack()
    track.add(A)
    track.skip_to(400)
    track.add(B)
    assert track.take(720) == A + SILENCE * 240 + B + SILENCE * 160


# --- the file -------------------------------------------------------------------------------

def test_a_recording_never_closed_is_a_readable_wav_of_every_block_written(tmp_path):
    wav = StereoWav.create(tmp_path / "call.wav")
    wav.append(A * 50, B * 50)  # one second
    wav.append(B * 25, A * 25)  # and a half: the writer is then abandoned, as in a crash
    left, right = read_stereo(tmp_path / "call.wav")
    assert len(left) == 8000 * 3 // 2
    assert np.array_equal(left, pcm(A * 50 + B * 25))
    assert np.array_equal(right, pcm(B * 50 + A * 25))
    wav.close()


CHILD = """
import asyncio, sys, time
from console.config import load_settings
from console.events import EventBus
from console.recording.service import Recordings
from console.streams import StreamStart

class Sender:
    async def send_audio(self, mulaw): pass
    async def send_mark(self, name): pass
    async def send_clear(self): pass
    async def close(self, reason): pass

async def main():
    settings = load_settings(_env_file=None, data_db=sys.argv[1])
    recordings = Recordings(settings, EventBus())
    await recordings.start()
    started = (time.monotonic() - 3.0, time.time() - 3.0)  # three seconds into the call
    recorder = recordings.record(StreamStart("CALL_SID", "MZ" + "2" * 32), Sender(), None, started)
    await recorder.send_audio(bytes([0x20]) * 4000)  # heard from 3 s to 3.5 s
    for _ in range(200):  # four seconds of the caller
        recorder.tap("caller", bytes([0x10]) * 160)
    await asyncio.sleep(0.6)  # until it has played
    recorder.flush()  # what the once-a-second flush does
    await recordings.writer.written()
    print(recorder.handle.path, flush=True)
    await asyncio.sleep(60)  # killed here, mid-call

asyncio.run(main())
""".replace("CALL_SID", SID)


def test_a_process_killed_mid_call_leaves_a_readable_wav_up_to_the_last_flush(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "calls.db")],
                             stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    try:
        ready, _, _ = select.select([child.stdout], [], [], 30)
        path = child.stdout.readline().strip() if ready else ""
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL and path
    with wave.open(path, "rb") as wav:  # the 3.6 s (or so) flushed before the kill
        assert 28_000 <= wav.getnframes() < 32_000
    left, right = read_stereo(path)
    assert np.array_equal(left, pcm(b"\x10" * len(left)))
    onset = int(np.flatnonzero(right)[0])  # the agent audio sent 3 s into the call
    assert 24_000 <= onset < 24_160 and right[onset:onset + 4000].all()


# --- retention ------------------------------------------------------------------------------

def test_retention_deletes_recordings_older_than_the_setting_and_keeps_the_rest(tmp_path):
    now = time.time()
    ages = {"old.wav": 31, "recent.wav": 29, "notes.txt": 90}
    for name, days in ages.items():
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (now - days * DAY_S, now - days * DAY_S))
    assert purge(tmp_path, 30, now=now) == [tmp_path / "old.wav"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "recent.wav"]
    assert purge(tmp_path, 0, now=now + 100 * DAY_S) == []  # 0: kept forever


# --- the service: redaction, the announcement, a failing disk ------------------------------

@dataclass
class Sender:
    audio: list[bytes] = field(default_factory=list)

    async def send_audio(self, mulaw: bytes) -> None:
        self.audio.append(mulaw)

    async def send_mark(self, name: str) -> None: ...

    async def send_clear(self) -> None: ...

    async def close(self, reason: str) -> None: ...


@dataclass
class Session:
    sid: str
    taps: list = field(default_factory=list)

    def add_tap(self, tap) -> None:
        self.taps.append(tap)

    def caller_says(self, mulaw: bytes) -> None:
        for frame in range(0, len(mulaw), 160):
            for tap in self.taps:
                tap("caller", mulaw[frame:frame + 160])


async def recorded_call(tmp_path, seconds_in: float = 3.0, profile=None, **settings):
    bus, seen = ev.EventBus(), []
    bus.subscribe(seen.append)
    recordings = Recordings(load_settings(_env_file=None, data_db=tmp_path / "c.db",
                                          **settings), bus)
    await recordings.start()
    started = (time.monotonic() - seconds_in, time.time() - seconds_in)
    sender = recordings.record(StreamStart(SID, "MZ" + "2" * 32), Sender(), profile, started)
    session = Session(SID)
    recordings.listen(session)
    return recordings, sender, session, seen, started[1]


async def end_call(recordings, seen):
    recordings.bus.publish(ev.CallEnded(SID, reason="caller"))
    await recordings.stop()
    return [e for e in seen if e.kind == "RecordingSaved"]


async def test_a_redacted_span_is_muted_on_the_caller_channel_written_or_not_and_after_the_call(
        tmp_path):
    recordings, sender, session, seen, wall0 = await recorded_call(tmp_path, seconds_in=0.0)
    started = sender.clock()
    sender.clock = lambda: started + sender.left.end / 8000  # every frame arrives on time
    spans = {"on disk": (0.5, 0.7), "in memory": (3.2, 3.3), "not yet arrived": (3.6, 3.7),
             "after the call": (1.5, 1.6)}

    def redact(which: str) -> None:
        start_s, end_s = spans[which]
        recordings.bus.publish(span_redacted(SID, wall0 + start_s, wall0 + end_s))

    session.caller_says(A * 150)  # three seconds of the caller
    sender.flush()  # the flush writes them
    redact("on disk")
    session.caller_says(A * 25)
    redact("in memory")
    redact("not yet arrived")
    session.caller_says(A * 25)
    recordings.bus.publish(ev.CallEnded(SID, reason="caller"))
    redact("after the call")
    await recordings.stop()
    left, _ = read_stereo([e for e in seen if e.kind == "RecordingSaved"][0].path)
    muted = np.zeros(len(left), dtype=bool)
    for start_s, end_s in spans.values():  # padded by a frame each side
        muted[int(start_s * 8000) - 160: int(end_s * 8000) + 160] = True
    assert not left[muted].any()
    assert np.array_equal(left[~muted], np.resize(pcm(A), len(left))[~muted])


async def test_a_profile_announcement_leads_the_greeting_only_on_recorded_calls(tmp_path):
    data = {"system_prompt": "x", "greeting": "Hello.",
            "recording_announcement": "This call may be recorded."}
    profile = parse_profile(data, tmp_path / "clinic.toml")
    on = Recordings(load_settings(_env_file=None, data_db=tmp_path / "c.db"), ev.EventBus())
    off = Recordings(load_settings(_env_file=None, data_db=tmp_path / "c.db",
                                   recording_enabled=False), ev.EventBus())
    assert on.announced(profile).greeting == "This call may be recorded. Hello."
    assert off.announced(profile).greeting == "Hello."
    unrecorded = parse_profile({**data, "record_calls": False}, tmp_path / "clinic.toml")
    assert not on.wants(unrecorded) and on.announced(unrecorded).greeting == "Hello."
    with pytest.raises(ProfileError, match="record_calls"):
        parse_profile({**data, "record_calls": "no"}, tmp_path / "clinic.toml")


async def test_an_unwritable_folder_raises_a_warning_and_the_call_still_sends_audio(tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    recordings, sender, session, seen, _ = await recorded_call(
        tmp_path, recording_dir=blocked / "recordings")
    line = sender._sender  # the call's own sender, behind the recorder
    await sender.send_audio(B)
    session.caller_says(A)
    sender.flush()
    assert await end_call(recordings, seen) == []
    alerts = [e for e in seen if e.kind == "AlertRaised"]
    assert len(alerts) == 1 and alerts[0].level == "warning"
    assert "Recording stopped" in alerts[0].message
    assert line.audio == [B]  # the caller heard it all the same


async def test_recordings_are_private_and_saved_with_their_length(tmp_path):
    recordings, sender, session, seen, _ = await recorded_call(tmp_path, seconds_in=1.0)
    session.caller_says(A * 50)
    saved = await end_call(recordings, seen)
    path = Path(saved[0].path)
    assert path.parent == tmp_path / "recordings" and path.name.endswith(f"-{SID}.wav")
    assert (os.stat(path).st_mode & 0o777, os.stat(path.parent).st_mode & 0o777) == (0o600, 0o700)
    assert saved[0].seconds == pytest.approx(1.0, abs=0.05)


async def test_a_call_whose_session_could_not_start_leaves_no_recording(tmp_path):
    recordings, sender, session, seen, _ = await recorded_call(tmp_path)
    await recordings.writer.written()
    assert list((tmp_path / "recordings").iterdir())  # opened with the stream
    recordings.drop(SID)
    assert await end_call(recordings, seen) == []
    assert list((tmp_path / "recordings").iterdir()) == []


@dataclass(frozen=True)
class Announcing:
    recording_announcement: str = "This call may be recorded."
    record_calls: bool = True


async def test_with_an_announcement_the_caller_is_recorded_only_once_it_has_played(tmp_path):
    recordings, sender, session, seen, _ = await recorded_call(tmp_path, profile=Announcing())
    clock = [0]
    sender.now = lambda: clock[0]  # the call's sample clock, moved by the test
    await sender.send_audio(B * 25)  # the announcement: the first half second
    await sender.send_mark("seg-1")
    session.caller_says(A * 50)  # the caller talks over it, and on for half a second more
    clock[0] = 8000
    left, right = read_stereo((await end_call(recordings, seen))[0].path)
    assert right[:4000].all() and not right[4000:].any()
    assert not left[:4000].any() and left[4000:].all()


async def onset_of_agent_audio(tmp_path, arrival) -> int:
    """Where agent audio sent 0.5 s after the server saw the stream start lands on the right
    channel, when the caller's frame k arrives `arrival(k)` seconds after that."""
    recordings, sender, session, seen, _ = await recorded_call(tmp_path, seconds_in=0.0)
    start_seen = sender.clock()
    now = [start_seen]
    sender.clock = lambda: now[0]
    for k in range(25):
        now[0] = start_seen + arrival(k)
        session.caller_says(A)
    now[0] = start_seen + 0.5
    await sender.send_audio(B)
    now[0] = start_seen + 1.0
    left, right = read_stereo((await end_call(recordings, seen))[0].path)
    return int(np.flatnonzero(right)[0])


async def test_the_calls_clock_is_the_callers_first_frame_not_when_the_start_was_handled(
        tmp_path):
    # The start was handled 30 ms after the caller's clock began; its frames arrive on their
    # 20 ms cadence, 1 ms after they left: sample 0 is put back to 29 ms before the start.
    onset = await onset_of_agent_audio(tmp_path / "late", lambda k: k * 0.020 - 0.029)
    assert abs(onset - round(0.529 * 8000)) <= 1
    # A burst faster than real time moves it back by 100 ms at most.
    onset = await onset_of_agent_audio(tmp_path / "burst", lambda k: 0.0)
    assert abs(onset - round(0.6 * 8000)) <= 1


async def test_a_finished_recording_kept_for_late_redactions_lets_go_of_the_call(tmp_path):
    """A finished recorder is kept a while (a redaction may still come), but the call it recorded
    (its socket sender, and through it the session and its queued audio) must be freed."""
    import gc
    import weakref

    recordings, sender, session, seen, _ = await recorded_call(tmp_path)
    real_sender = sender._sender
    gone = weakref.ref(real_sender)
    del real_sender
    session.caller_says(A * 25)
    recordings.bus.publish(ev.CallEnded(SID, reason="caller"))
    gc.collect()
    assert gone() is None, "the finished recording still holds the call's sender"
    await recordings.stop()
