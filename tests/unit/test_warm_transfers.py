"""The warm transfer's decisions (console/warm.py), with Twilio REST stood in for at our own facade:
the next target after busy, the alert's level, and the caller gone before they could come back."""

from __future__ import annotations

from types import SimpleNamespace

from console import events as ev
from console.calls.conversation import Conversation
from console.config import load_settings
from console.profiles import load_profile
from console.telephony.twilio_rest import TwilioRestError
from console.warm import WarmTransfers

CALL = "CA" + "1" * 32
FIRST, SECOND = "+15550001000", "+15550002000"


class FakeRest:
    """What WarmTransfers asks of console.telephony.twilio_rest.TwilioRest, recorded."""

    def __init__(self, back_error: TwilioRestError | None = None) -> None:
        self.back_error = back_error
        self.dialled: list[str] = []
        self.back: list[str] = []

    async def redirect(self, call_sid: str, twiml: str) -> None:
        pass

    async def create_call(self, to: str, from_: str, **_: object) -> str:
        self.dialled.append(to)
        return "CA" + f"{len(self.dialled):032d}"

    async def redirect_url(self, call_sid: str, url: str) -> None:
        if self.back_error is not None:
            raise self.back_error
        self.back.append(url)


class ParkedCall:
    def __init__(self) -> None:
        self.sid = CALL
        self.profile = load_profile("scheduling")
        self.conversation = Conversation("system")
        self.start_info = SimpleNamespace(custom_parameters={"caller": "+15550009999"})
        self.ended: list[str] = []

    async def end_parked(self, reason: str) -> None:
        self.ended.append(reason)


def _warm(rest: FakeRest) -> tuple[WarmTransfers, list[ev.CallEvent]]:
    bus = ev.EventBus()
    seen: list[ev.CallEvent] = []
    bus.subscribe(seen.append)
    settings = load_settings(_env_file=None, public_url="https://voice.example.test",
                             twilio_phone_number="+15550000000")
    return WarmTransfers(settings, bus, lambda: rest), seen


def _alerts(seen: list[ev.CallEvent]) -> list[tuple[str, str]]:
    return [(e.level, e.message) for e in seen if isinstance(e, ev.AlertRaised)]


async def test_a_busy_target_moves_on_to_the_next_and_only_the_last_outcome_returns_the_caller():
    rest = FakeRest()
    warm, seen = _warm(rest)
    call = ParkedCall()
    await warm.start(call, (FIRST, SECOND), "billing dispute")

    await warm.target_finished(CALL, "CA" + f"{1:032d}", "busy")
    assert rest.dialled == [FIRST, SECOND] and rest.back == [] and _alerts(seen) == []
    assert warm.in_progress(CALL, "CA" + f"{2:032d}")
    assert not warm.in_progress(CALL, "CA" + f"{1:032d}")  # the first leg's word is over

    await warm.target_finished(CALL, "CA" + f"{2:032d}", "no-answer")
    assert rest.back == ["https://voice.example.test/voice"]
    assert _alerts(seen) == [("warning", f"Warm transfer to {SECOND}: no-answer. "
                                         "The caller is back with the agent.")]
    assert warm.resume(CALL) is call and warm.resume(CALL) is None  # handed over once


async def test_an_emergency_that_nobody_takes_is_a_critical_alert():
    warm, seen = _warm(FakeRest())
    await warm.start(ParkedCall(), (FIRST,), "emergency: the caller said chest pain")

    await warm.target_finished(CALL, "CA" + f"{1:032d}", "failed")

    assert [level for level, _ in _alerts(seen)] == ["critical"]


async def test_a_caller_gone_before_the_redirect_back_ends_the_call_without_an_alert():
    gone = TwilioRestError(400, 21220, "Call is not in-progress. Cannot redirect.")
    warm, seen = _warm(FakeRest(back_error=gone))
    call = ParkedCall()
    await warm.start(call, (FIRST,), "billing dispute")

    await warm.target_finished(CALL, "CA" + f"{1:032d}", "no-answer")

    assert call.ended == ["caller-hung-up-on-hold"] and _alerts(seen) == []
    assert not warm.in_progress(CALL, None)


async def test_twilio_refusing_the_way_back_tells_the_operator_to_take_the_call():
    warm, seen = _warm(FakeRest(back_error=TwilioRestError(503, 20503, "Service Unavailable")))
    call = ParkedCall()
    await warm.start(call, (FIRST,), "billing dispute")

    await warm.target_finished(CALL, "CA" + f"{1:032d}", "busy")

    assert _alerts(seen) == [("critical", "Warm transfer failed and the caller is still on "
                                          "hold: take the call")]
    assert call.ended == []
