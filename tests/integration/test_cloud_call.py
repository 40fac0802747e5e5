"""Whole calls on the cloud tier: our server, the real Deepgram/Groq/Twilio SDKs against
loopback fakes that speak the vendors' wire protocols, and a simulated Twilio caller."""

from __future__ import annotations

from console.calls.session import SessionOptions
from tests.integration.conftest import spoken, start_cloud_stack, stop_cloud_stack


async def test_a_caller_hears_the_greeting_then_an_answer_to_what_they_said(cloud):
    cloud.deepgram.script = ["I'd like to book an appointment"]
    cloud.groq.reply = "Sure. What day works for you?"
    summary = await cloud.caller(spoken()).run()
    await cloud.runtime.store.flush()

    assert summary["utterances"][0]["reply_latency_ms"] is not None
    prompt = cloud.groq.requests[0].messages
    assert prompt[0]["role"] == "system"
    assert prompt[-1] == {"role": "user", "content": "I'd like to book an appointment"}
    sentences = [r.text for r in cloud.deepgram.tts_requests[-2:]]
    assert sentences == ["Sure.", "What day works for you?"]
    assert summary["marks_received"] >= 3  # greeting + one per reply sentence
    turns = [(e.role, e.text) for e in cloud.events("TurnCompleted")]
    assert ("agent", "Sure. What day works for you?") in turns


async def test_split_finals_of_one_utterance_get_one_llm_request(tmp_path):
    # Eager cadence: the subject is joining finals, and only it shows half the words (the split
    # point) within 1.2 s of speech; the live cadence would send one final and prove nothing.
    stack, parts = await start_cloud_stack(tmp_path, split_finals=True, cadence="eager",
                                           script=["I need to move my appointment to Friday"])
    try:
        await stack.caller(spoken(1200)).run()
        assert sum(r["is_final"] for r in stack.deepgram.results_sent) == 2  # it did split
        assert len(stack.groq.requests) == 1
        assert stack.groq.requests[0].messages[-1]["content"] == (
            "I need to move my appointment to Friday")
    finally:
        await stop_cloud_stack(parts)


async def test_barge_in_clears_twilio_and_no_frame_of_the_cut_reply_follows(cloud):
    cloud.deepgram.script = ["tell me about your hours", "wait stop please"]
    cloud.groq.reply = ("We are open every weekday from eight in the morning. "
                        "On Saturdays we open at nine and close at noon. ") * 3
    first, barge = spoken(), spoken(900, barge_in_after_ms=800)
    caller = cloud.caller(first, barge)
    summary = await caller.run()

    assert summary["clears_received"] >= 1
    clear_at = caller.log.clears[0]
    barge_end = caller.log.speech[1]["end"]
    leaked = [t for t in caller.log.received_at if clear_at < t < barge_end]
    assert leaked == []
    cut = [e for e in cloud.events("TurnCompleted") if e.role == "agent" and e.interrupted]
    assert cut and "noon" not in cut[0].text


async def test_a_backchannel_pauses_the_agent_which_then_finishes_with_every_word_heard(cloud):
    cloud.deepgram.script = ["what are your hours", "mhm"]
    cloud.groq.reply = "We are open every weekday from eight in the morning until six at night."
    backchannel = spoken(300, barge_in_after_ms=600)
    caller = cloud.caller(spoken(), backchannel)
    await caller.run()
    assert not [e for e in cloud.events("TurnCompleted") if e.interrupted]
    assert cloud.events("AgentResumed")
    heard = bytes(caller.playout.heard)
    chunks = [r.text for r in cloud.deepgram.tts_requests if r.text in cloud.groq.reply]
    assert " ".join(chunks) == cloud.groq.reply  # its first clause, then its sentences
    assert all(cloud.deepgram.audio_for(chunk) in heard for chunk in chunks)
    assert len(cloud.groq.requests) == 1  # "mhm" is stored, not answered


async def test_deepgram_dropping_mid_utterance_loses_no_words(tmp_path):
    stack, parts = await start_cloud_stack(tmp_path, drop_after_speech_frames=20,
                                           script=["my order number is four two"])
    try:
        await stack.caller(spoken(1200)).run()
        assert stack.deepgram.drops == 1
        assert stack.groq.requests[0].messages[-1]["content"] == "my order number is four two"
        assert stack.events("ProviderDegraded")
    finally:
        await stop_cloud_stack(parts)


async def test_groq_429_on_both_models_is_answered_with_the_apology(cloud):
    cloud.deepgram.script = ["hello"]
    cloud.groq.set_mode("429")
    await cloud.caller(spoken()).run()
    models = {r.model for r in cloud.groq.requests}
    assert models == {"llama-3.3-70b-versatile", "llama-3.1-8b-instant"}
    spoken_texts = " ".join(r.text for r in cloud.deepgram.tts_requests)
    assert "trouble" in spoken_texts.lower()


async def test_tts_socket_refused_falls_back_to_rest_speech(tmp_path):
    stack, parts = await start_cloud_stack(tmp_path, speak_ws_status=500, script=["hello"])
    try:
        stack.groq.reply = "Hello there."
        summary = await stack.caller(spoken()).run()
        transports = {r.transport for r in stack.deepgram.tts_requests}
        assert transports == {"rest"}
        assert summary["utterances"][0]["reply_latency_ms"] is not None
    finally:
        await stop_cloud_stack(parts)


async def test_idle_caller_is_reprompted_then_hung_up_through_twilio_rest(tmp_path):
    options = SessionOptions(idle_reprompt_s=0.3, idle_hangup_s=0.3)
    stack, parts = await start_cloud_stack(tmp_path, options=options)
    try:
        summary = await stack.caller(reply_timeout_s=5.0, max_call_s=15.0).run()
        request = await stack.twilio.wait_for_request(
            lambda r: r.form.get("Status") == "completed", 5.0)
        assert request is not None
        spoken_texts = [r.text for r in stack.deepgram.tts_requests]
        assert any("still there" in t.lower() for t in spoken_texts)
        assert summary["ended_by"] != "caller"
    finally:
        await stop_cloud_stack(parts)
