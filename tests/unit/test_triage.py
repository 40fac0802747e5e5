"""Emergency triage in the call logic: triggers from both sides, retries, and never silence."""

from __future__ import annotations

import pytest

from console.calls import triage
from console.calls.triage import AgentScanner
from console.profiles import match_phrases
from tests.unit.session_fakes import ScriptedLLM, make_harness


class FlakyActions:
    """Stands in for Twilio REST at the port: fails the first `failures` transfers."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.transfers: list[str] = []

    async def transfer(self, call_sid: str, number: str, *, announce: str | None = None) -> None:
        self.transfers.append(number)
        if len(self.transfers) <= self.failures:
            raise RuntimeError("HTTP 500")

    async def hang_up(self, call_sid: str) -> bool:
        return True


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(triage, "RETRY_EVERY_S", 0.01)
    monkeypatch.setattr(triage, "RETRY_JITTER_S", 0.0)
    monkeypatch.setattr(triage, "COMPANY_PAUSE_S", 0.05)


def test_scanner_finds_a_sentinel_split_across_tokens():
    scanner = AgentScanner(lambda text: match_phrases(text, ["EMERGENCY_DETECTED"]))
    assert scanner.feed("I think this is EMERG") is None
    assert scanner.feed("ENCY_DET") is None
    assert scanner.feed("ECTED.") == "EMERGENCY_DETECTED"


async def emergency_call(reply: str, failures: int = 0, numbers=("+15550001000", "+15550002000")):
    h = make_harness(llm=ScriptedLLM([reply]), emergency_numbers=numbers)
    h.session.deps.actions = FlakyActions(failures)
    await h.session.begin()
    await h.until(lambda: h.sender.marks())
    h.echo_marks()
    await h.until(lambda: h.session.state == "listening")
    return h


async def test_agent_trigger_stops_the_sentence_before_it_is_spoken_and_transfers():
    h = await emergency_call("Please stay calm. This sounds serious EMERGENCY_DETECTED now.")
    h.stt.say("final", "my father collapsed", speech_final=True)
    await h.until(lambda: h.of_kind("TransferAttempted"))
    assert h.session.deps.actions.transfers == ["+15550001000"]
    spoken = " ".join(h.tts.texts)
    assert "Please stay calm." in spoken and "serious" not in spoken
    detected = h.of_kind("EmergencyDetected")[0]
    assert (detected.source, detected.phrase) == ("agent", "EMERGENCY_DETECTED")
    await h.session.on_stop("test")


async def test_caller_phrase_on_an_interim_triggers_at_once():
    h = await emergency_call("Okay.")
    h.stt.say("interim", "I have chest pain and")
    await h.until(lambda: h.of_kind("TransferAttempted"))
    assert h.of_kind("EmergencyDetected")[0].source == "caller"
    assert h.session.state == "transferring"
    await h.session.on_stop("test")


async def test_rest_failing_twice_then_succeeding_is_retried_within_the_call():
    h = await emergency_call("Okay.", failures=2)
    h.stt.say("final", "I can't breathe", speech_final=True)
    await h.until(lambda: any(e.ok for e in h.of_kind("TransferAttempted")))
    attempts = [(e.attempt, e.ok) for e in h.of_kind("TransferAttempted")]
    assert attempts == [(1, False), (2, False), (3, True)]
    await h.session.on_stop("test")


async def test_rest_down_raises_a_critical_alert_and_keeps_the_caller_company():
    h = await emergency_call("Okay.", failures=1000)
    h.stt.say("final", "chest pain", speech_final=True)

    def company_kept_twice() -> bool:
        h.echo_marks()
        return h.tts.texts.count("Please stay on the line.") >= 2

    await h.until(company_kept_twice)
    assert h.of_kind("AlertRaised")[0].level == "critical"
    assert len(h.llm.requests) == 0  # the agent does not chat on during an emergency
    await h.session.operator.take_over()
    await h.session.on_stop("test")


async def test_unanswered_dial_moves_on_to_the_second_number():
    h = await emergency_call("Okay.")
    h.stt.say("final", "chest pain", speech_final=True)
    await h.until(lambda: h.of_kind("TransferAttempted"))
    assert h.session.dial_finished("no-answer") == "+15550002000"
    assert h.session.dial_finished("completed") is None
    outcomes = [e.outcome for e in h.of_kind("TransferFinished")]
    assert outcomes == ["no-answer", "completed"]
    await h.session.on_stop("test")


async def test_retries_go_on_at_the_first_number_for_as_long_as_twilio_refuses():
    h = await emergency_call("Okay.", failures=1000)
    h.stt.say("final", "chest pain", speech_final=True)
    await h.until(lambda: len(h.of_kind("TransferAttempted")) >= 12)
    assert {e.target for e in h.of_kind("TransferAttempted")} == {"+15550001000"}
    assert [e.level for e in h.of_kind("AlertRaised")] == ["critical"]  # once, not per retry
    await h.session.operator.take_over()
    await h.session.on_stop("test")


def test_retries_are_spaced_under_a_second_with_jitter(monkeypatch):
    monkeypatch.undo()  # the real spacing, not the quick one of the other tests
    waits = [triage.next_attempt_after(100.0) - 100.0 for _ in range(200)]
    assert 0.5 <= min(waits) and max(waits) <= 0.9  # always under a second
    assert max(waits) - min(waits) > 0.1  # calls that failed together drift apart
