"""Approve-before-speak over the real server: fake Deepgram, Groq and Twilio on loopback, the
real SDKs, our media server and simulated Twilio callers who record what they heard. A caller on
the medical intake line asks about a dosage (one of its `gate_topics`); an operator approves,
edits or rejects the reply through the console's CallControl, or approves its first pieces while
the rest is still being written. The fake TTS makes audio unique to
each text, so what a caller heard tells which words reached them."""

from __future__ import annotations

import asyncio

from console.calls.gate import GATE_LINE, GateOptions
from console.calls.session import SessionOptions
from console.simulate.caller import Utterance
from tests.fakes.deepgram_fake import silence
from tests.integration.conftest import Watch, spoken, start_cloud_stack, stop_cloud_stack

QUESTION = "what dosage of ibuprofen can I take"
ANSWER = "Two tablets every six hours. Never more than eight a day."
EDIT = "A nurse will call you back about the dose."
MEDICAL = {"caller": "+15550001111", "profile": "medical_intake"}
# After the question the caller stays on the line, quiet, while the operator decides.
STAY = Utterance(mulaw=silence(1000), wait_for_reply=False)


def heard_in_order(heard: bytes, *audio: bytes) -> bool:
    """Each piece of audio was heard (its first 0.05 s), in this order."""
    at = 0
    for piece in audio:
        at = heard.find(piece[:400], at)
        if at < 0:
            return False
    return True


async def test_the_caller_hears_a_holding_line_then_only_approved_or_edited_words(tmp_path):
    options = SessionOptions(gate=GateOptions(hold_after_s=0.1))
    stack, parts = await start_cloud_stack(tmp_path, options=options, ms_per_char=5.0,
                                           script=[QUESTION] * 3, reply=ANSWER)
    watch, control = Watch(stack.runtime.bus), stack.runtime.control

    async def operator(caller, decision: str, text: str = "") -> None:
        """Decides once the caller has heard the gate's holding line: a person's reaction
        (deciding sooner cuts the line short, as the reply or the operator takes its place)."""
        await watch.until(lambda: watch.of("AgentSpoke", call_sid=caller.options.call_sid,
                                           text=GATE_LINE))
        line = stack.deepgram.audio_for(GATE_LINE)
        await asyncio.sleep(len(line) / 8000)  # its playout (0.13 s): no event marks its end
        await control.decide_reply(caller.options.call_sid, decision, text, "ana")

    try:
        # Rejected, no reply comes: that caller does not wait for one, it stays a little longer.
        callers = {d: stack.caller(spoken(), STAY, custom_parameters=MEDICAL)
                   for d in ("approve", "edit")}
        callers["reject"] = stack.caller(spoken(wait_for_reply=False), STAY, STAY,
                                         custom_parameters=MEDICAL)
        decide = [operator(c, d, EDIT if d == "edit" else "") for d, c in callers.items()]
        await asyncio.gather(*(c.run() for c in callers.values()), *decide)
        await stack.runtime.store.flush()
        audio = stack.deepgram.audio_for
        answer = [r.text for r in stack.deepgram.tts_requests if r.text in ANSWER]
        heard = {d: bytes(c.playout.heard) for d, c in callers.items()}
        assert answer  # its speech was made ahead (for a quick approval)
        approved = watch.of("AgentSpoke", call_sid=callers["approve"].options.call_sid)
        pieces = [e.text for e in approved if e.text in ANSWER]  # the chunks it is spoken in
        assert " ".join(pieces) == ANSWER

        assert heard_in_order(heard["approve"], audio(GATE_LINE), *map(audio, pieces))
        assert heard_in_order(heard["edit"], audio(GATE_LINE), audio(EDIT))
        assert heard_in_order(heard["reject"], audio(GATE_LINE))
        for decision in ("edit", "reject"):  # made ahead for a quick approval, never heard
            assert not any(heard_in_order(heard[decision], audio(t)) for t in pieces)
        audits = {e.call_sid: e for e in watch.of("GatedReplyDecided")}
        assert [audits[c.options.call_sid].decision for c in callers.values()] == [
            "approved", "edited", "rejected"]
        assert all(a.proposed == ANSWER and a.actor == "ana" for a in audits.values())
        sid = callers["edit"].options.call_sid
        stored = await asyncio.to_thread(stack.runtime.history.get_call, sid)
        audit = [e.payload for e in stored.events if e.kind == "GatedReplyDecided"]
        assert [(a["decision"], a["spoken"], a["actor"]) for a in audit] == [
            ("edited", EDIT, "ana")]
        proposals = [e.payload for e in stored.events if e.kind == "ReplyProposed"]
        assert [p["text"] for p in proposals] == [ANSWER]  # the complete one, not every token
    finally:
        await stop_cloud_stack(parts)


async def test_approving_what_is_shown_lets_the_caller_hear_it_before_the_reply_is_complete(
    tmp_path,
):
    """The operator approves the reply's first complete pieces while the LLM is still writing the
    rest; once it is complete they edit that rest. The caller hears the approved pieces before
    the reply is complete, then the edit, and never the sentence nobody approved."""
    stack, parts = await start_cloud_stack(tmp_path, ms_per_char=5.0, script=[QUESTION],
                                           reply=ANSWER)
    stack.groq.tokens_per_s = 8  # ANSWER's first two pieces at 0.6 s, the last one 0.8 s later
    watch, control, heard_then = Watch(stack.runtime.bus), stack.runtime.control, bytearray()

    async def operator() -> None:
        sid = caller.options.call_sid
        await watch.until(lambda: watch.of("ReplyProposed", call_sid=sid, approvable=True))
        await control.decide_reply(sid, "approve", "", "ana")
        await watch.until(lambda: watch.of("ReplyProposed", call_sid=sid, complete=True))
        heard_then.extend(caller.playout.heard)  # sent to the caller before the reply was done
        await control.decide_reply(sid, "edit", EDIT, "ana")
        await watch.until(lambda: any(EDIT in e.text for e in watch.of(
            "TurnCompleted", call_sid=sid, role="agent")))  # played: the caller may hang up

    caller = stack.caller(spoken(wait_for_reply=False), custom_parameters=MEDICAL, hold=operator)
    try:
        await caller.run()
        audio, heard = stack.deepgram.audio_for, bytes(caller.playout.heard)
        first, second, rest = "Two tablets every six", "hours.", "Never more than eight a day."
        assert heard_in_order(bytes(heard_then), audio(first), audio(second))
        assert heard_in_order(heard, audio(first), audio(second), audio(EDIT))
        assert not heard_in_order(heard, audio(rest))  # proposed, never approved
        audit = watch.of("GatedReplyDecided", call_sid=caller.options.call_sid)
        assert [(a.decision, a.spoken, a.approved_early) for a in audit] == [
            ("edited", f"{first} {second} {EDIT}", 2)]
    finally:
        await stop_cloud_stack(parts)
