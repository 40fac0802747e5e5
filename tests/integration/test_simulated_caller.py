"""The simulated caller behaves like Twilio: cadence, playout, mark echoes, clear, barge-in."""

from __future__ import annotations

import asyncio
import json
import wave

import numpy as np
import pytest

from console import audio_codec as audio
from console import cli
from console.simulate.caller import Utterance
from console.simulate.playout import Playout
from console.simulate.voice import render_line
from console.simulate.wav import read_wav_as_mulaw
from tests.integration.conftest_telephony import (
    TONE,
    HandlerScript,
    raw_socket,
    telephony_servers,
)


@pytest.fixture
async def telephony():
    async with telephony_servers() as start:
        yield start


SPEECH = TONE * 15  # 300 ms of "talking"
MS = audio.SAMPLE_RATE // 1000  # samples per millisecond on the call clock


# ---- the speaker model on its own ----------------------------------------------------------


def test_a_mark_is_echoed_only_once_the_audio_queued_before_it_has_played():
    speaker = Playout()
    speaker.add_audio(TONE * 5, now=0)  # 100 ms queued
    assert speaker.add_mark("a", now=0) == []
    assert speaker.due_marks(now=99 * MS) == []
    assert speaker.due_marks(now=100 * MS) == ["a"]


def test_a_mark_with_nothing_queued_is_echoed_at_once_and_marks_keep_their_order():
    speaker = Playout()
    assert speaker.add_mark("now", now=0) == ["now"]
    speaker.add_audio(TONE, now=0)
    speaker.add_mark("first", now=0)
    speaker.add_audio(TONE, now=0)
    speaker.add_mark("second", now=0)
    assert speaker.due_marks(now=60 * MS) == ["first", "second"]


def test_clear_drops_queued_audio_and_echoes_pending_marks_at_once():
    speaker = Playout()
    speaker.add_audio(TONE * 50, now=0)  # one second queued
    speaker.add_mark("a", now=0)
    speaker.add_audio(TONE * 50, now=0)
    speaker.add_mark("b", now=0)
    assert speaker.clear(now=300 * MS) == ["a", "b"]
    assert len(speaker.heard) == 300 * MS and speaker.idle(now=300 * MS)


def test_audio_after_an_idle_speaker_starts_a_new_agent_turn_and_gaps_are_heard_as_silence():
    speaker = Playout()
    assert speaker.add_audio(TONE, now=500 * MS) is True
    assert speaker.add_audio(TONE, now=520 * MS) is False  # continues the same turn
    speaker.clear(now=540 * MS)
    assert speaker.add_audio(TONE, now=550 * MS) is True  # the first audio after a clear
    assert speaker.heard[: 500 * MS] == audio.silence(500)


def test_instant_playout_echoes_every_mark_at_once_and_keeps_all_audio():
    speaker = Playout(instant=True)
    speaker.add_audio(TONE * 50, now=0)
    assert speaker.add_mark("a", now=0) == ["a"]
    assert speaker.clear(now=0) == [] and len(speaker.heard) == 50 * 160


# ---- against a real server -----------------------------------------------------------------


async def test_real_time_frames_leave_about_every_20_ms_without_drift(telephony):
    harness = await telephony()
    caller = harness.caller(
        fast=False, utterances=[Utterance(SPEECH, wait_for_reply=False)], dtmf="1", dtmf_gap_ms=0
    )
    summary = await caller.run()
    handler = harness.handler_for(caller.options.call_sid)
    gaps = np.diff(handler.media_times) * 1000
    assert 18 <= gaps.mean() <= 23  # generous: a shared 2-core machine is noisy
    expected = summary["duration_ms"] / 20
    assert abs(summary["frames_sent"] - expected) <= 0.1 * expected + 3
    assert 18 <= summary["sent_gaps_ms"]["mean"] <= 23


async def test_marks_are_echoed_in_order_and_only_after_their_audio_played(telephony):
    harness = await telephony(HandlerScript(reply_frames=10))  # 200 ms of reply per digit
    caller = harness.caller(fast=False, dtmf="12", dtmf_gap_ms=0)
    summary = await caller.run()
    handler = harness.handler_for(caller.options.call_sid)
    assert handler.marks == ["dtmf-1", "dtmf-2"] == summary["marks_echoed"]
    played_for = handler.mark_times["dtmf-2"] - handler.sent_marks["dtmf-1"]
    assert played_for >= 0.3  # two 200 ms replies queued back to back: ~400 ms


async def test_clear_makes_the_caller_echo_pending_marks_at_once_and_drop_unplayed_audio(
    telephony,
):
    harness = await telephony(HandlerScript(reply_frames=100))  # 2 s of audio
    caller = harness.caller(fast=False, dtmf="1*", dtmf_gap_ms=200, record_path=None)
    summary = await caller.run()
    handler = harness.handler_for(caller.options.call_sid)
    assert summary["clears_received"] == 1
    assert summary["marks_echoed"] == ["dtmf-1"]
    echoed_after = handler.mark_times["dtmf-1"] - handler.sent_marks["dtmf-1"]
    assert echoed_after < 1.0  # not the 2 s it would have taken to play
    assert summary["heard_ms"] < 1500


async def test_fast_mode_sends_speech_unpaced_then_silence_for_endpointing(telephony):
    harness = await telephony(HandlerScript(reply_after_speech=True))
    caller = harness.caller(utterances=[Utterance(SPEECH)], fast_tail_ms=400)
    summary = await caller.run()
    assert summary["speech_frames_sent"] == 15
    assert summary["frames_sent"] == 15 + 20
    assert summary["duration_ms"] < 500 + 2000  # no real-time half second per utterance
    assert summary["marks_echoed"] == ["reply-0"]


async def test_each_utterance_waits_for_the_reply_and_reports_its_latency(telephony):
    harness = await telephony(HandlerScript(reply_after_speech=True, reply_frames=10))
    utterances = [Utterance(SPEECH, label="one"), Utterance(SPEECH, label="two")]
    caller = harness.caller(fast=False, utterances=utterances)
    summary = await caller.run()
    first, second = summary["utterances"]
    assert first["reply_latency_ms"] is not None and first["reply_latency_ms"] < 1000
    # The second line started only after the first reply (200 ms) had played.
    assert second["speech_start_ms"] >= first["speech_end_ms"] + first["reply_latency_ms"] + 150
    assert summary["marks_echoed"] == ["reply-0", "reply-1"]


async def test_barge_in_talks_over_the_reply_and_reports_time_to_clear(telephony):
    script = HandlerScript(
        reply_after_speech=True, reply_frames=100, clear_on_speech_while_replying=True
    )
    harness = await telephony(script)
    utterances = [Utterance(SPEECH), Utterance(SPEECH, barge_in_after_ms=300, wait_for_reply=False)]
    caller = harness.caller(fast=False, utterances=utterances)
    summary = await caller.run()
    assert summary["utterances"][1]["barge_in"] is True
    assert summary["clears_received"] >= 1
    clear = summary["clears"][0]
    assert clear["since_speech_start_ms"] is not None and clear["since_speech_start_ms"] < 1000
    assert "reply-0" in summary["marks_echoed"]  # the cleared reply's mark came back


async def test_the_recording_is_an_8_khz_wav_of_what_the_caller_heard(telephony, tmp_path):
    harness = await telephony(HandlerScript(reply_frames=25))
    path = tmp_path / "heard.wav"
    summary = await harness.caller(fast=False, dtmf="1", record_path=path).run()
    with wave.open(str(path)) as recording:
        assert (recording.getframerate(), recording.getnchannels()) == (8000, 1)
        pcm = recording.readframes(recording.getnframes())
    assert abs(len(pcm) // 2 - summary["heard_ms"] * 8) < 8
    assert audio.rms_dbfs(pcm) > -40  # the tone is in there


async def test_a_server_hanging_up_ends_the_call_early_and_says_so(telephony):
    harness = await telephony()
    caller = harness.caller(fast=False, utterances=[Utterance(SPEECH * 10)])
    run = asyncio.create_task(caller.run(), name="long-call")
    await harness.until(lambda: harness.handlers)
    await harness.handlers[0].sender.close("agent-hung-up")
    summary = await run
    assert summary["ended_by"] == "server" and summary["close_code"] == 1000
    assert summary["duration_ms"] < 4000


async def test_the_simulate_command_speaks_lines_and_prints_a_json_summary(telephony, capsys):
    harness = await telephony(HandlerScript(reply_after_speech=True))
    argv = [
        "simulate",
        "--url",
        harness.server.media_url,
        "--line",
        "hello there",
        "--fast",
        "--json",
        "--dtmf",
        "1",
        "--token",
        "",
        "--greeting-timeout",
        "0",
    ]
    code = await asyncio.to_thread(cli.main, argv)
    summary = json.loads(capsys.readouterr().out)
    assert code == 0, summary["errors"]
    assert summary["speech_frames_sent"] > 10 and summary["dtmf_sent"] == "1"
    assert summary["marks_echoed"] == ["reply-0", "dtmf-1"]


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate"],
        ["simulate", "--url", "http://127.0.0.1:1/media"],
        ["simulate", "--url", "ws://127.0.0.1:1/media", "--dtmf", "9x"],
        ["simulate", "--url", "ws://127.0.0.1:1/media", "--wav", "/no/such/file.wav"],
        ["simulate", "--url", "ws://127.0.0.1:1/media", "--call-sid", "CAnope"],
    ],
)
def test_bad_simulate_arguments_exit_with_code_2_and_a_clear_message(argv, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    assert capsys.readouterr().err.strip()


async def test_raw_socket_helper_is_usable_beside_the_caller(telephony):
    harness = await telephony()
    async with raw_socket(harness):
        summary = await harness.caller(dtmf="1").run()
    assert summary["marks_echoed"] == ["dtmf-1"] and len(harness.handlers) == 2


def test_a_stereo_44k_wav_becomes_8_khz_mono_mulaw(tmp_path):
    t = np.arange(44100) / 44100
    left = (np.sin(2 * np.pi * 300 * t) * 8000).astype("<i2")
    stereo = np.stack([left, left], axis=1).tobytes()
    path = tmp_path / "line.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes(stereo)
    mulaw = read_wav_as_mulaw(path)
    assert len(mulaw) == 8000  # one second at 8 kHz
    assert audio.rms_dbfs(audio.mulaw_to_pcm16(mulaw)) > -20


def test_espeak_lines_render_as_telephone_audio_despite_its_placeholder_header():
    mulaw = render_line("Hello, I would like to book an appointment.")
    assert 1.0 < len(mulaw) / 8000 < 6.0  # a sentence lasts a few seconds, not 0x7FFFF000 bytes
    assert audio.rms_dbfs(audio.mulaw_to_pcm16(mulaw)) > -40
