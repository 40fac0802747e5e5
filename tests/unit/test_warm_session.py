"""A warm transfer in the call logic (issue 15): the operator's or an emergency rule's, the call
parked while the caller holds, and what happens when it cannot start."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from console.calls import triage
from tests.unit.session_fakes import ScriptedLLM, StubProfile, make_harness
from tests.unit.test_triage import FlakyActions

NUMBERS = ("+15550001000", "+15550002000")


@dataclass(frozen=True)
class WarmProfile(StubProfile):
    emergency_transfer: str = "warm"


class FakeWarm:
    """Stands in for console.warm.WarmTransfers at the calls ring's port."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.started: list[tuple[tuple[str, ...], str]] = []

    async def start(self, call, targets: tuple[str, ...], reason: str) -> None:
        self.started.append((targets, reason))
        if self.fail:
            raise RuntimeError("Twilio REST 500")


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(triage, "RETRY_EVERY_S", 0.01)
    monkeypatch.setattr(triage, "RETRY_JITTER_S", 0.0)


async def _listening(warm: FakeWarm, *, profile=None):
    h = make_harness(llm=ScriptedLLM(["Sure."]), emergency_numbers=NUMBERS)
    h.session.deps.warm = warm
    h.session.deps.actions = FlakyActions()
    if profile is not None:
        h.session.profile = profile
    await h.session.begin()
    await h.until(lambda: h.sender.marks())
    h.echo_marks()
    await h.until(lambda: h.session.state == "listening")
    return h


async def test_the_operators_warm_transfer_parks_the_call_when_its_stream_ends_and_ends_it_later():
    warm = FakeWarm()
    h = await _listening(warm)

    await h.session.operator.warm_transfer(("+15559990000",), "billing dispute")
    await h.session.on_stop("stream-stopped")  # Twilio moved the caller into the conference

    assert warm.started == [(("+15559990000",), "billing dispute")]
    assert h.session.state == "on hold"  # parked: the stream ended, the call did not
    assert h.of_kind("WarmTransferHolding") and not h.of_kind("CallEnded")
    await h.session.end_parked("warm-transferred")
    assert [e.reason for e in h.of_kind("CallEnded")] == ["warm-transferred"]


async def test_a_warm_transfer_that_cannot_start_leaves_the_call_with_the_agent():
    h = await _listening(FakeWarm(fail=True))

    with pytest.raises(RuntimeError, match="500"):
        await h.session.operator.warm_transfer(("+15559990000",), "billing dispute")

    assert h.session.state == "listening" and not h.session.park_on_stop
    await h.session.on_stop("stream-stopped")  # a hang-up now is a hang-up
    assert [e.reason for e in h.of_kind("CallEnded")] == ["stream-stopped"]


async def test_an_emergency_on_a_warm_profile_briefs_the_emergency_numbers_in_turn():
    warm = FakeWarm()
    h = await _listening(warm, profile=WarmProfile())

    h.stt.say("final", "I have chest pain", speech_final=True)
    await h.until(lambda: warm.started)

    [(targets, reason)] = warm.started
    assert targets == NUMBERS and "chest pain" in reason and reason.startswith("emergency")
    assert h.session.state == "transferring" and h.session.park_on_stop
    assert h.session.deps.actions.transfers == []  # no cold redirect behind the warm one


async def test_an_emergency_whose_warm_transfer_fails_is_redirected_cold():
    warm = FakeWarm(fail=True)
    h = await _listening(warm, profile=WarmProfile())

    h.stt.say("final", "I have chest pain", speech_final=True)
    await h.until(lambda: h.session.deps.actions.transfers)

    assert len(warm.started) == 1 and not h.session.park_on_stop
    assert h.session.deps.actions.transfers[0] == NUMBERS[0]
