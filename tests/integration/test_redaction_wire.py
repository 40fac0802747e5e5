"""Redaction over the real server: a medical-intake call whose caller says a card number, a social
security number and a date of birth next to an emergency phrase, and one that keys digits after a
sensitive prompt. Triage hears the words as said;
the store, its exports and the calls row the webhook is built from keep none of the secrets;
the recording is told which caller spans to mute.

The call runs on Flux: Deepgram offers Flux no entity redaction (tests/fakes/deepgram_fake.py),
so the store's own redaction is all that stands between the card number and the disk."""

from __future__ import annotations

import asyncio
import json

import pytest

from console import events as ev
from console.calls import triage
from console.handoff.payload import build_body
from console.storage.records import CallDetail
from console.storage.repository import CallRepository
from tests.integration.conftest import spoken, start_cloud_stack, stop_cloud_stack

CARD = "4111 1111 1111 1111"
SSN = "123-45-6789"
SAID = f"my card is {CARD}, my social is {SSN}, I was born March 3rd 1985 and I have chest pain"
STORED = "my card is [card], my social is [ssn], I was born [dob] and I have chest pain"
# Each as it was said or extracted (bare digit groups could turn up in a timestamp or a SID).
SECRETS = (CARD, SSN, "123456789", "March 3rd 1985", "1985-03-03")
# A quick caller: unpaced speech, instant playout (the subject is what is stored, not timing).
MEDICAL = {"custom_parameters": {"caller": "+15550001111", "profile": "medical_intake"},
           "fast": True, "reply_quiet_ms": 300.0}


@pytest.fixture(autouse=True)
def quick_company(monkeypatch):
    monkeypatch.setattr(triage, "COMPANY_PAUSE_S", 0.3)


@pytest.fixture
async def flux(tmp_path):
    stack, parts = await start_cloud_stack(tmp_path, stt_engine="flux", ms_per_char=3.0)
    yield stack
    await stop_cloud_stack(parts)


async def until(cloud, predicate, within_s: float = 5.0) -> None:
    changed = asyncio.Event()
    unsubscribe = cloud.runtime.bus.subscribe(lambda _event: changed.set())
    try:
        async with asyncio.timeout(within_s):
            while not predicate():
                changed.clear()
                await changed.wait()
    finally:
        unsubscribe()


async def stored_call(cloud, sid: str) -> CallDetail:
    await cloud.runtime.store.flush()
    return await asyncio.to_thread(cloud.runtime.history.get_call, sid)


async def test_a_card_next_to_an_emergency_reaches_triage_raw_and_the_store_redacted(
        flux, tmp_path):
    flux.deepgram.script = [SAID]
    caller = flux.caller(spoken(1500), reply_timeout_s=1.5, **MEDICAL)
    await caller.run()
    sid = caller.options.call_sid
    await flux.twilio.wait_for_request(lambda r: "Twiml" in r.form, 3.0)
    await until(flux, lambda: flux.events("CallEnded"))

    # Triage and the live console saw the words as said: the emergency was caught.
    detected = flux.events("EmergencyDetected")[0]
    assert detected.phrase == "chest pain" and CARD in detected.text
    # The recording is told where each was said: inside each caller turn that held them.
    turns = [e for e in flux.events("TurnCompleted") if e.role == "caller"]
    spans = flux.events("CallerSpanRedacted")
    assert turns and [s.what for s in spans] == ["card", "ssn", "dob"] * len(turns)
    for index, span in enumerate(spans):
        turn = turns[index // 3]
        assert turn.started <= span.started < span.ended <= turn.ended

    # A summary holding every secret (after the summarizer's own, so this one is the stored one):
    # its summary and fields are stored redacted too.
    await until(flux, lambda: flux.events("CallSummarized"))
    flux.runtime.bus.publish(ev.CallSummarized(
        sid, summary=f"Chest pain; paid with card {CARD}.", disposition="escalated",
        action_items=(f"refund {CARD}",),
        fields=(("card_number", CARD), ("ssn", "123456789"), ("date_of_birth", "1985-03-03"))))
    call = await stored_call(flux, sid)
    assert {t.text for t in call.turns if t.role == "caller"} == {STORED}
    assert call.summary == "Chest pain; paid with card [card]."
    assert call.fields == {"card_number": "[card]", "ssn": "[ssn]", "date_of_birth": "[dob]"}
    assert call.emergency == 1
    stored = json.dumps(call.to_json())  # turns, the audit log's payloads, summary, fields
    assert [secret for secret in SECRETS if secret in stored] == []

    exports = tmp_path / "exports"
    with CallRepository(flux.runtime.settings.data.db) as repository:
        repository.export_calls_json(exports / "calls.json", [sid])
        repository.export_calls_csv(exports / "calls.csv", [sid])
    assert "[card]" in (exports / "calls.json").read_text()
    for name in ("calls.json", "calls.csv"):
        exported = (exports / name).read_text()
        assert [secret for secret in SECRETS if secret in exported] == []
    # The end-of-call webhook's body is built from the stored call: the same, redacted.
    body = build_body(call, f"{sid}:call.completed", "call.completed", 0.0)
    assert "[card]" in body and [secret for secret in SECRETS if secret in body] == []


async def test_keypad_digits_after_the_sensitive_prompt_are_stored_hidden_and_muted(flux):
    flux.deepgram.script = ["I need to give you my member number"]
    flux.groq.reply = "Please enter your member number on your keypad, then press pound."
    caller = flux.caller(spoken(), reply_timeout_s=3.0, dtmf="4821#", dtmf_gap_ms=50,
                         dtmf_reply_timeout_s=0.2, **MEDICAL)
    await caller.run()
    sid = caller.options.call_sid
    await until(flux, lambda: flux.events("CallEnded"))

    assert [e.digit for e in flux.events("DtmfPressed")] == list("4821#")  # the call saw them
    mutes = flux.events("CallerSpanRedacted")
    assert [s.what for s in mutes] == ["dtmf"] * 4
    presses = flux.events("DtmfPressed")
    assert all(s.started < press.at < s.ended for s, press in zip(mutes, presses, strict=False))

    call = await stored_call(flux, sid)
    keys = [e.payload["digit"] for e in call.events if e.kind == "DtmfPressed"]
    assert keys == ["[digits]"] * 4 + ["#"]
