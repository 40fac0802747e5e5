"""Approve-before-speak bench: what gating costs a caller when the operator approves at once.

The same calls twice on the cloud stack over loopback fakes (our server and the real SDKs in
this process; Deepgram TTS first byte 80 ms, Groq first token 150 ms at 200 tokens/s, as
bench/pipeline.py): every reply ungated, then every reply gated (the call's gate on) and
approved by a bus subscriber "at once", as quick as an operator can be: the operator approves
what they see, so the subscriber approves each time a proposal brings new complete pieces (its
first clause, then each sentence: a ReplyProposed that is `approvable`), and the rest once it is
complete. The caller still hears only approved text; they no longer wait for the LLM to finish
a text that had to be approved whole. Two replies: a short one (one sentence) and a long one
(bench/pipeline.py's two sentences, 36 words).

From each reply's stamps (TurnMeasured, server clock), p50 over the turns:
  added_ms            gated voice-to-voice minus ungated: all the caller waits longer;
  first_approval_ms   speech end -> the first approved piece goes to the caller (gated; the
                      first approval, at once) or the first chunk to TTS (ungated);
  llm_tail_ms         of the added wait, the LLM writing what must be approved before anything
                      is heard (gated first approval minus ungated first chunk): the price of
                      the feature, not of its code;
  gate_own_ms         the rest: approval -> first frame sent (speech made ahead, release,
                      pacer), beyond the later of the first approval and the ungated reply's
                      first frame. Target: <= 30 ms.

    python bench/gate.py [--turns 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from common import save_results, spread  # noqa: I001 - sets sys.path for tests.fakes

from console import events as ev
from console.calls.gate import NothingToDecide
from console.calls.session import SessionOptions
from console.simulate.caller import Utterance
from tests.fakes.deepgram_fake import silence
from tests.integration.conftest import start_cloud_stack, stop_cloud_stack
from tests.speech import finished_turn

QUESTION = "I'd like to book an appointment for my knee"
REPLIES = {
    "short": "Sure, I can book that for you on Tuesday morning at ten.",
    "long": ("I have noted that for your booking today. We are open on weekdays from eight in the "
             "morning until six, and on Saturdays from nine until noon. Is there anything else?"),
}
_BEFORE_CHUNK = ("speech_end->stt_final", "stt_final->llm_request", "llm_request->llm_first_token",
                 "llm_first_token->first_sentence")


def _until_chunk(stages: dict[str, float]) -> float:
    """Speech end -> first chunk to TTS (gated: -> the first approval, when its speech plays)."""
    return sum(stages.get(key, 0.0) for key in _BEFORE_CHUNK)


class Approver:
    """Gates every call's replies and approves what each proposal shows, the moment it shows
    something approvable: new complete pieces, or the rest once complete."""

    def __init__(self, runtime: Any) -> None:
        self._control = runtime.control
        self._loop = asyncio.get_running_loop()

    def __call__(self, event: ev.CallEvent) -> None:
        if isinstance(event, ev.CallStarted):  # the session is listed right after it starts
            self._loop.call_soon(self._gate, event.call_sid)
        elif isinstance(event, ev.ReplyProposed) and (event.approvable or event.complete):
            # Just after the bus's fan-out, as an operator's key would: an approval publishes a
            # ReplyProposed of its own, which must not overtake this one at other subscribers.
            self._loop.call_soon(self._approve, event.call_sid)

    def _gate(self, sid: str) -> None:
        self._control.get(sid).gate.on = True

    def _approve(self, sid: str) -> None:
        # An approval may have taken these pieces already, or the last piece settled the reply.
        with contextlib.suppress(NothingToDecide):
            self._control.get(sid).gate.decide("approve", "bench")


async def measure(reply: str, gated: bool, turns: int) -> list[dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="voiceconsole-gate-") as folder:
        stack, parts = await start_cloud_stack(
            Path(folder), options=SessionOptions(), script=[QUESTION] * (turns + 2), reply=reply,
            first_byte_ms=80.0, ms_per_char=5.0)
        try:
            if gated:
                stack.runtime.bus.subscribe(Approver(stack.runtime))
            await stack.caller(*(_said(seed) for seed in range(turns))).run()
        finally:
            await stop_cloud_stack(parts)
    measured = [e.stages for e in stack.seen if e.kind == "TurnMeasured"]
    if gated:
        assert len([e for e in stack.seen if e.kind == "GatedReplyDecided"]) >= turns
    return [s for s in measured if "voice_to_voice" in s]


def _said(seed: int) -> Utterance:
    """Real speech that ends where its speaker ended a sentence (a tone would end on a level
    pitch, which the pitch cue rightly holds 0.7 s, hiding what the gate costs)."""
    return Utterance(mulaw=finished_turn(seed) + silence(40))


def p50(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def compare(off: list[dict[str, float]], on: list[dict[str, float]]) -> dict[str, Any]:
    v2v_off, v2v_on = [s["voice_to_voice"] for s in off], [s["voice_to_voice"] for s in on]
    approved = [_until_chunk(s) for s in on]
    after_approval = [s["voice_to_voice"] - _until_chunk(s) for s in on]
    own = p50(v2v_on) - max(p50(approved), p50(v2v_off))
    return {
        "ungated_v2v_ms": spread(v2v_off), "gated_v2v_ms": spread(v2v_on),
        "added_ms": round(p50(v2v_on) - p50(v2v_off), 1),
        "first_approval_ms": p50(approved),
        "llm_tail_ms": round(p50(approved) - p50([_until_chunk(s) for s in off]), 1),
        "approval_to_first_frame_ms": spread(after_approval),
        "gate_own_ms": round(own, 1),
    }


async def main(turns: int) -> dict[str, Any]:
    results: dict[str, Any] = {"turns": turns}
    for name, reply in REPLIES.items():
        off = await measure(reply, False, turns)
        on = await measure(reply, True, turns)
        results[name] = compare(off, on)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()
    results = asyncio.run(main(args.turns))
    print(json.dumps(results, indent=2))
    print(f"saved {save_results('gate', results)}")
