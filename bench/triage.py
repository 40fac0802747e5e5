"""Emergency triage bench: LLM trigger token -> Twilio REST redirect received, and proof that
no frame of the sentence holding the trigger reached the caller.

Whole cloud stack on loopback (fake Deepgram, Groq and Twilio REST; real SDKs; our server in this
process). Each call: the caller speaks once; the LLM (150 ms first token, 200 tokens/s) answers
with a first sentence, then a sentence carrying the EMERGENCY_DETECTED sentinel. Latency runs from
the moment the fake LLM sent the sentinel's token to the moment the fake Twilio received the
redirect (tests/unit/test_triage.py covers a sentinel split across tokens).

    python bench/triage.py --calls 20 --concurrency 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from common import spread  # noqa: I001 - sets sys.path for tests.*

from tests.integration.conftest import spoken, start_cloud_stack, stop_cloud_stack

REPLY = "I understand. Please stay calm EMERGENCY_DETECTED while I get help."
TRIGGER_SENTENCE = "Please stay calm"


async def run(calls: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        stack, parts = await start_cloud_stack(Path(tmp), reply=REPLY)
        try:
            gate = asyncio.Semaphore(concurrency)
            callers = await asyncio.gather(*(_call(stack, gate) for _ in range(calls)))
            return _measure(stack, callers, calls)
        finally:
            await stop_cloud_stack(parts)


async def _call(stack: Any, gate: asyncio.Semaphore) -> Any:
    async with gate:
        caller = stack.caller(spoken(), reply_timeout_s=1.5)
        await caller.run()
        return caller


def _measure(stack: Any, callers: list[Any], calls: int) -> dict[str, Any]:
    redirects = [r for r in stack.twilio.requests if "Twiml" in r.form]
    latencies = []
    for response in stack.groq.responses:
        token_at = next((t.at for t in response.tokens if "DETECTED" in t.text), None)
        after = [r.received for r in redirects if token_at is not None and r.received >= token_at]
        if after:
            latencies.append((min(after) - token_at) * 1000)
    # Agent audio only exists once synthesized: no TTS request for it means no frame of it sent.
    spoken_texts = [r.text for r in stack.deepgram.tts_requests]
    return {
        "calls": calls,
        "trigger_to_rest_ms": spread(latencies),
        "redirects": len(redirects),
        "trigger_sentence_synthesized": sum(TRIGGER_SENTENCE in t for t in spoken_texts),
        "sentences_before_it_spoken": sum(t == "I understand." for t in spoken_texts),
        "emergency_events": len(stack.events("EmergencyDetected")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.calls, args.concurrency)), indent=2))


if __name__ == "__main__":
    main()
