"""The embedded default end to end: our server, local STT/TTS/responder, a simulated caller
speaking in a Piper voice over the real Twilio protocol, and the call in SQLite afterwards."""

from __future__ import annotations

import pytest

from console.calls.session import SessionOptions
from console.config import load_settings
from console.demo import run_demo
from console.runtime import Runtime
from console.storage.repository import CallRepository


@pytest.fixture
async def runtime(tmp_path):
    settings = load_settings(server_port=0, data_db=tmp_path / "demo.db",
                             _env_file=None, deepgram_api_key=None, groq_api_key=None)
    # Unpaced both ways: agent audio is sent as fast as it is made (the caller plays it at once).
    runtime = Runtime(settings, options=SessionOptions(lead_s=600.0))
    await runtime.start()
    yield runtime
    await runtime.stop()


@pytest.mark.alone  # four of these at once on 2 cores lose the last line (pyproject's markers)
async def test_demo_call_is_recognized_answered_and_stored(runtime):
    summary = await run_demo(runtime, fast=True)
    call = summary["calls"][0]
    assert call["word_error_rate"] <= 0.10, call["recognized"]
    assert len(call["recognized"]) == 4
    assert len(call["agent_replies"]) == 5  # greeting + one reply per caller line
    assert "Goodbye" in call["agent_replies"][-1]

    stored = CallRepository(runtime.settings.data.db).get_call(call["call_sid"])
    roles = [turn.role for turn in stored.turns]
    assert roles.count("caller") == 4 and roles.count("agent") == 5
    voice_to_voice = [m.stages["voice_to_voice"] for m in stored.metrics
                      if "voice_to_voice" in m.stages]
    assert len(voice_to_voice) == 4
    # The embedded tier's summary, from the profile's rules: the caller booked a day and time.
    assert (stored.disposition, stored.summary_source) == ("booked", "rules")
    assert stored.fields["requested_time"].lower() in ("tuesday at nine", "tuesday at 9")
    assert stored.fields["name"] == "Maria Lopez" and call["disposition"] == "booked"
