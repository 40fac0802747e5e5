"""Answering sooner without talking over, on the wire: our server, the real Deepgram and Groq
SDKs against the loopback fakes (realistic interim cadence), and a simulated Twilio caller
speaking real recorded speech.

The reply is prepared the moment the caller goes quiet; these tests show what the caller hears
when they were not done: nothing, and then one reply to everything they said."""

from __future__ import annotations

from typing import Any

import pytest

from console.simulate.caller import Utterance
from tests.fakes.deepgram_fake import silence
from tests.integration.conftest import start_cloud_stack, stop_cloud_stack
from tests.speech import finished_turn, hum, monologue

FRAGMENT = "I'd like to book a table for"
PAUSE_MS = 600


def mid_sentence(rest_s: float, *, seed: int = 1) -> tuple[Utterance, float, float]:
    """A fragment (real speech), a thinking pause, then the rest of the sentence. Returns the
    utterance and where the rest starts and ends in it (seconds)."""
    fragment = monologue(1.2, gaps_ms=(0, 100), seed=0)
    rest = monologue(rest_s, gaps_ms=(0, 100), seed=seed)
    rest_at = (len(fragment) + PAUSE_MS * 8) / 8000
    audio = fragment + silence(PAUSE_MS) + rest + silence(40)
    return Utterance(mulaw=audio), rest_at, rest_at + len(rest) / 8000


def agent_audio_during(caller: Any, start_s: float, end_s: float) -> list[float]:
    """Agent frames the caller received while saying [start_s, end_s) of its first utterance."""
    spoke = caller.log.speech[0]["start"]
    return [t for t in caller.log.received_at if spoke + start_s <= t < spoke + end_s]


def outcomes(cloud: Any) -> list[str]:
    return [e.outcome for e in cloud.events("SpeculationSettled")]


def agent_turns(cloud: Any) -> list[Any]:
    return [e for e in cloud.events("TurnCompleted") if e.role == "agent"]


async def test_a_caller_who_goes_on_after_a_pause_hears_nothing_then_one_whole_answer(cloud):
    rest = "the whole family on the evening of our anniversary"
    cloud.deepgram.script = [FRAGMENT, rest]
    talk, _, rest_to = mid_sentence(3.5)  # long enough for interims while talking
    caller = cloud.caller(talk, reply_timeout_s=6.0)
    await caller.run()
    assert outcomes(cloud) == ["discarded", "used"]  # prepared in the pause, dropped unheard
    assert agent_audio_during(caller, 0.0, rest_to) == []
    asked = [r.messages[-1]["content"] for r in cloud.groq.requests]
    assert asked == [FRAGMENT, f"{FRAGMENT} {rest}"]  # the reply answers the whole sentence
    assert len(agent_turns(cloud)) == 2  # the greeting, then exactly one answer


async def test_a_changed_final_restarts_the_reply_with_the_whole_turn(cloud):
    cloud.deepgram.script = [FRAGMENT, "Friday"]
    talk, _, rest_to = mid_sentence(0.4)  # too short for an interim: the words come as a final
    caller = cloud.caller(talk, reply_timeout_s=6.0)
    await caller.run()
    assert outcomes(cloud) == ["restarted", "used"]
    assert [r.messages[-1]["content"] for r in cloud.groq.requests] == [
        FRAGMENT, f"{FRAGMENT} Friday"]
    assert agent_audio_during(caller, 0.0, rest_to) == []


async def test_a_finished_question_is_released_at_once_with_one_llm_request(cloud):
    cloud.deepgram.script = ["Are you open on Sundays?"]
    caller = cloud.caller(Utterance(mulaw=monologue(1.5, gaps_ms=(0, 100)) + silence(40)),
                          reply_timeout_s=6.0)
    await caller.run()
    settled = cloud.events("SpeculationSettled")
    assert [(e.outcome, e.rule) for e in settled] == [("used", "question")]
    assert len(cloud.groq.requests) == 1


@pytest.fixture
async def flux(tmp_path):
    stack, parts = await start_cloud_stack(tmp_path, stt_engine="flux")
    yield stack
    await stop_cloud_stack(parts)


async def test_flux_eager_end_then_resumed_then_end_of_turn_gives_one_reply_to_the_whole_turn(
        flux):
    """A pause long enough for Flux's eager end (120 ms) but not its end of turn (260 ms): the
    reply prepared on the eager end is dropped unheard when Flux says the turn resumed, and the
    one the caller hears answers both halves."""
    flux.deepgram.script = ["I'd like to book an appointment", "for next Tuesday morning"]
    first, rest = monologue(1.2, gaps_ms=(0, 100)), monologue(1.0, gaps_ms=(0, 100), seed=3)
    # The fake counts silence from its own speech threshold, which the clip's quiet tail is
    # already under: 120 ms of digital silence lands between its eager end and end of turn.
    talk = Utterance(mulaw=first + silence(120) + rest + silence(40))
    caller = flux.caller(talk, reply_timeout_s=6.0)
    await caller.run()
    events = [m["event"] for m in flux.deepgram.turn_infos if m["event"] != "Update"]
    assert events[:5] == ["StartOfTurn", "EagerEndOfTurn", "TurnResumed", "EagerEndOfTurn",
                          "EndOfTurn"]
    assert outcomes(flux) == ["discarded", "used"]
    asked = [r.messages[-1]["content"] for r in flux.groq.requests]
    assert asked[-1] == "I'd like to book an appointment for next Tuesday morning"
    assert len(agent_turns(flux)) == 2
    assert agent_audio_during(caller, 0.0, (len(first) + len(rest)) / 8000 + 0.2) == []


@pytest.fixture
async def short_replies(tmp_path):
    stack, parts = await start_cloud_stack(tmp_path, reply="Noted.")  # quick to play out
    yield stack
    await stop_cloud_stack(parts)


async def test_a_statement_whose_voice_ends_level_is_not_answered_inside_a_thinking_pause(
        short_replies):
    """Words that are a whole sentence ("I'm calling about my prescription"), said with a level
    pitch, then 600 ms of thinking and the rest: with the default settings the reply prepared in
    the pause waits for the level-voice hold, the caller goes on first, and nothing is heard
    until they are done."""
    cloud = short_replies
    fragment, rest = "I'm calling about my prescription", "for my heart"
    cloud.deepgram.script = [fragment, rest]
    # The rest is too short for an interim: its words come as a final, which restarts the reply.
    talk = hum(1000, 120, 120) + silence(PAUSE_MS) + hum(400, 125, 95)
    caller = cloud.caller(Utterance(mulaw=talk + silence(40)), reply_timeout_s=6.0)
    await caller.run()
    assert outcomes(cloud) == ["restarted", "used"]  # prepared in the pause, never heard
    assert agent_audio_during(caller, 0.0, len(talk) / 8000) == []
    asked = [r.messages[-1]["content"] for r in cloud.groq.requests]
    assert asked[-1] == f"{fragment} {rest}"


@pytest.mark.parametrize("sentence", [3, 16])  # "No matter." (beckett); an endgame line
async def test_a_real_sentence_that_ends_in_a_high_rise_is_answered_at_once(short_replies,
                                                                             sentence):
    """Real speech ending where its speaker ended a sentence, with the pitch climbing at the end
    (a high rise, which yields the turn as a fall does): the pitch cue does not hold it."""
    cloud = short_replies
    cloud.deepgram.script = ["No matter."]
    talk = finished_turn(sentence)
    caller = cloud.caller(Utterance(mulaw=talk + silence(40)), reply_timeout_s=6.0)
    await caller.run()
    (settled,) = cloud.events("SpeculationSettled")
    assert (settled.outcome, settled.rule) == ("used", "finished")
