"""Voice activity on real speech and on noisy lines: onsets come at once, quiet comes back."""

from __future__ import annotations

import numpy as np

from console.audio_codec import mulaw_to_pcm16, pcm16_to_mulaw, silence
from console.calls.vad import VoiceActivity
from tests.speech import cough, speech_clip, voiced_spans

FRAME = 160


def with_noise(mulaw: bytes, dbfs: float, seed: int = 1) -> bytes:
    """White line noise at `dbfs` (RMS) mixed under the audio."""
    pcm = np.frombuffer(mulaw_to_pcm16(mulaw), "<i2").astype(np.float64)
    pcm += np.random.default_rng(seed).normal(0, 10 ** (dbfs / 20) * 32768, len(pcm))
    return pcm16_to_mulaw(np.clip(pcm, -32768, 32767).astype("<i2").tobytes())


def feed(vad: VoiceActivity, mulaw: bytes, t0: float = 0.0) -> tuple[list[float], list[bool]]:
    """Onset times and the talking flag after each frame, on an audio clock starting at t0."""
    onsets, talking = [], []
    for index in range(len(mulaw) // FRAME):
        now = t0 + (index + 1) * 0.020
        if vad.frame(mulaw[index * FRAME : (index + 1) * FRAME], now):
            onsets.append(vad.onset_at - t0)
        talking.append(vad.talking(now))
    return onsets, talking


def test_real_speech_starts_an_onset_within_two_frames_of_its_first_voiced_frame():
    clip = speech_clip("two_cities", 2.0)
    onsets, _ = feed(VoiceActivity(), silence(1000) + clip)
    first_voiced = 1.0 + voiced_spans(clip)[0][0]
    assert onsets and 0 <= onsets[0] - first_voiced <= 0.060


def test_a_noisy_line_is_learnt_as_noise_and_speech_over_it_is_still_heard():
    line = with_noise(silence(3000) + speech_clip("beckett", 2.0) + silence(1000), -40)
    onsets, talking = feed(VoiceActivity(), line)
    assert not any(talking[100:150])  # 2-3 s: the noise alone, learnt as the floor
    assert [t for t in onsets if t >= 2.0] and min(t for t in onsets if t >= 2.0) < 3.1
    assert not any(talking[-20:])  # quiet again once the speaker stops, noise and all


def test_a_single_click_is_not_a_caller_but_a_cough_is_a_sound():
    click = b"\x10" * FRAME
    onsets, _ = feed(VoiceActivity(), silence(500) + click + silence(500))
    assert onsets == []
    onsets, _ = feed(VoiceActivity(), silence(500) + cough(250) + silence(500))
    assert len(onsets) == 1


def test_quiet_comes_back_a_hangover_after_the_last_voiced_frame():
    vad = VoiceActivity()
    _, talking = feed(vad, silence(200) + speech_clip("beckett", 1.0) + silence(600))
    assert talking[-1] is False
    assert vad.quiet_for(vad.last_voiced + 0.5) > 0 and vad.quiet_for(vad.last_voiced) == 0
