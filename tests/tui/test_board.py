"""The board's fold of bus events: what the operator is shown, without Textual."""

from console.events import (
    AgentInterrupted,
    AgentResumed,
    AgentSpoke,
    CallEnded,
    CallerTranscribed,
    CallStarted,
    EmergencyDetected,
    OperatorActed,
    SpeculationSettled,
    StateChanged,
    TransferFinished,
    TurnCompleted,
    TurnMeasured,
)
from console.tui.board import CallBoard
from console.tui.call_state import percentile
from console.tui.describe import describe
from console.tui.widgets.transcript import render_transcript

from .fakes import T0, call_script


def test_interim_caller_words_are_replaced_by_the_final_text_then_by_the_turn() -> None:
    board = CallBoard()
    board.apply(CallerTranscribed("CA1", text="I'd like", final=False))
    call = board.get("CA1")
    assert call.interim == "I'd like" and call.talking == "caller"
    board.apply(CallerTranscribed("CA1", text="I'd like to book.", final=True))
    assert call.interim == "" and call.caller_finals == ["I'd like to book."]
    board.apply(TurnCompleted("CA1", role="caller", text="I'd like to book.", started=0, ended=1))
    assert [(line.role, line.text) for line in call.lines] == [("caller", "I'd like to book.")]
    assert call.caller_finals == [] and call.talking == ""


def test_agent_sentences_build_one_live_line_until_the_turn_completes() -> None:
    board = CallBoard()
    board.apply(AgentSpoke("CA1", text="Sure."))
    board.apply(AgentSpoke("CA1", text="Which day?"))
    call = board.get("CA1")
    assert call.agent_live.text == "Sure. Which day?" and call.talking == "agent"
    board.apply(TurnCompleted("CA1", role="agent", text="Sure. Which day?", started=0, ended=2))
    assert call.agent_live is None and call.lines[-1].text == "Sure. Which day?"


def test_an_interrupted_agent_turn_keeps_what_was_said_and_what_was_heard() -> None:
    board = CallBoard()
    board.apply(AgentSpoke("CA1", text="We have Tuesday and Thursday."))
    board.apply(AgentInterrupted("CA1", heard="We have Tuesday", cause="speech-started"))
    board.apply(
        TurnCompleted(
            "CA1", role="agent", text="We have Tuesday", started=0, ended=1, interrupted=True
        )
    )
    line = board.get("CA1").lines[-1]
    assert line.interrupted and line.heard == "We have Tuesday"
    assert line.text == "We have Tuesday and Thursday." and line.cause == "speech-started"


def test_new_agent_speech_after_an_unfinished_interruption_starts_a_new_line() -> None:
    board = CallBoard()
    board.apply(AgentSpoke("CA1", text="One two three."))
    board.apply(AgentInterrupted("CA1", heard="One", cause="interim-words"))
    board.apply(AgentSpoke("CA1", text="Sorry, go ahead."))
    call = board.get("CA1")
    assert call.lines[-1].heard == "One" and call.agent_live.text == "Sorry, go ahead."


def test_voice_to_voice_latency_feeds_last_value_and_nearest_rank_percentiles() -> None:
    board = CallBoard()
    for turn, v2v in enumerate([400, 900, 500, 600], start=1):
        board.apply(
            TurnMeasured("CA1", turn=turn, stages={"stt_final": 100, "voice_to_voice": v2v})
        )
    call = board.get("CA1")
    assert call.last_v2v == 600 and call.turn == 4 and call.stages["stt_final"] == 100
    assert call.v2v_percentile(50) == 500 and call.v2v_percentile(95) == 900
    assert percentile([], 50) is None


def test_operator_state_marks_the_call_taken_over_until_the_agent_resumes() -> None:
    board = CallBoard()
    board.apply(StateChanged("CA1", state="operator"))
    call = board.get("CA1")
    assert call.taken_over and call.talking == "operator"
    board.apply(StateChanged("CA1", state="listening"))
    assert not call.taken_over


def test_another_operators_take_over_and_mute_show_on_this_console() -> None:
    board = CallBoard()
    board.apply(OperatorActed("CA1", action="take-over", actor="cli"))
    board.apply(OperatorActed("CA1", action="mute", actor="cli"))
    call = board.get("CA1")
    assert call.taken_over and call.agent_muted
    board.apply(OperatorActed("CA1", action="hand-back", actor="cli"))
    board.apply(OperatorActed("CA1", action="unmute", actor="cli"))
    assert not call.taken_over and not call.agent_muted
    assert [entry.summary for entry in call.timeline][-1] == "cli unmute"


def test_transfer_progress_is_attached_to_the_emergency_alert() -> None:
    board = CallBoard()
    board.apply(EmergencyDetected("CA1", source="agent", phrase="call 911", text="please call 911"))
    board.apply(TransferFinished("CA1", target="+15550009999", outcome="completed"))
    call = board.get("CA1")
    assert call.alert.progress == ["transfer to +15550009999: completed"]
    assert board.pending_alerts() == [call]
    board.acknowledge("CA1")
    assert board.pending_alerts() == [] and call.alert.acknowledged


def test_ended_calls_are_forgotten_later_unless_their_alert_is_unacknowledged() -> None:
    board = CallBoard()
    for event in [*call_script("CA1"), *call_script("CA2")]:
        board.apply(event)
    board.apply(EmergencyDetected("CA2", source="caller", phrase="overdose", text="...", at=T0))
    board.apply(CallEnded("CA1", reason="caller hung up", at=T0 + 30))
    board.apply(CallEnded("CA2", reason="transferred", at=T0 + 30))
    assert board.prune(T0 + 60, keep_ended_for=120) == []
    assert board.prune(T0 + 200, keep_ended_for=120) == ["CA1"]
    assert [c.call_sid for c in board.calls()] == ["CA2"]


def test_events_before_call_started_create_the_call_and_the_start_fills_it_in() -> None:
    board = CallBoard()
    board.apply(StateChanged("CA9", state="listening", at=T0 + 5))
    board.apply(CallStarted("CA9", stream_sid="MZ9", from_number="+15550000009", at=T0))
    call = board.get("CA9")
    assert call.caller == "+15550000009" and call.duration(T0 + 10) == 10
    assert [entry.summary for entry in call.timeline][0] == "state → listening"


def test_a_reply_paused_for_the_caller_then_resumed_shows_both_in_transcript_and_timeline():
    board = CallBoard()
    board.apply(AgentSpoke("CA1", text="We open at eight."))
    board.apply(StateChanged("CA1", state="speaking"))
    board.apply(StateChanged("CA1", state="paused"))
    call = board.get("CA1")
    assert call.talking == "caller" and call.state == "paused"
    assert "paused for the caller" in render_transcript(call).plain
    board.apply(AgentResumed("CA1", paused_ms=540.0, backchannel="mhm"))
    board.apply(StateChanged("CA1", state="speaking"))
    assert call.talking == "agent"
    assert "paused" not in render_transcript(call).plain
    board.apply(TurnCompleted("CA1", role="agent", text="We open at eight.", started=0, ended=1))
    shown = render_transcript(call).plain
    assert "We open at eight. ↻ resumed" in shown and "cut" not in shown
    timeline = [entry.summary for entry in call.timeline]
    assert "state → paused for the caller" in timeline
    assert "agent resumed after 540 ms (“mhm”): no word lost" in timeline
    assert describe(AgentResumed("CA1", paused_ms=610.0)) == (
        "agent resumed after 610 ms (no words): no word lost")


def test_the_timeline_says_when_a_prepared_reply_was_heard_and_when_it_was_dropped_unheard():
    used = SpeculationSettled("CA1", text="a table for", outcome="used", held_ms=1250.4,
                              rule="unfinished: preposition 'for'")
    assert describe(used) == (
        "answered once sure, 1250 ms after preparing (unfinished: preposition 'for')")
    dropped = SpeculationSettled("CA1", text="a table for", outcome="discarded", held_ms=700.0)
    assert describe(dropped) == "prepared reply dropped unheard: the caller went on"


def test_the_safety_path_reads_on_the_timeline() -> None:
    from console.events import AlertRaised, AudioDropped, ProfileRejected

    assert describe(AudioDropped("CA1", where="deaf", frames=750)) == (
        "0:15 of caller audio dropped: no recognizer")
    assert describe(AudioDropped("CA1", where="ear", frames=50)) == (
        "0:01 of caller audio dropped: the recognizer fell behind")
    assert describe(AlertRaised("CA1", level="critical", message="cannot hear")) == (
        "CRITICAL ALERT: cannot hear")
    assert describe(ProfileRejected("CA1", profile="dental", problem="greeting")).startswith(
        "profile dental edit rejected")


def test_the_after_call_events_read_on_the_timeline() -> None:
    from console.events import CallerSpanRedacted, RecordingSaved

    assert describe(RecordingSaved("CA1", path="/r/CA1.wav", seconds=62.4)) == (
        "recording saved (62 s)")
    assert describe(CallerSpanRedacted("CA1", started=1.0, ended=2.0, what="card")) == (
        "card redacted (caller audio muted there)")


def test_a_quiet_caller_reads_on_the_timeline() -> None:
    from console.events import CallerWentQuiet

    assert describe(CallerWentQuiet("CA1", seconds=8.2)) == "caller quiet for 8 s: reprompted"
