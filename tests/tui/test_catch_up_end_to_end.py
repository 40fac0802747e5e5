"""Catch-up on join over the real runtime (issue 15): our media server, the real Deepgram and
Groq SDKs against the loopback fakes, a simulated Twilio caller. Opening the call shows the
summary model's brief (through the fake Groq); `c` plays the call's ring on the fake sound card:
the same sound, 1.5 times as fast."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest

from console.audio_ring import CallRing
from console.catch_up_audio import RingMix
from console.tui.screens.call_view import CallViewScreen
from console.tui.widgets.catch_up import CatchUpBrief
from tests.integration.conftest import spoken

from .conftest import wait_until
from .test_audio_desk import FakeSoundCard
from .test_catch_up import pulled
from .test_end_to_end import SIZE, console, highlighted, notes_of, placed
from .test_end_to_end import stack as stack  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(30)
BRIEF = "A caller is on the line about an appointment; the agent has just answered."


class RingSpy:
    """The runtime's listen-in source, keeping a copy of the ring a catch-up started from."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.ring: CallRing | None = None

    def tap(self, call_sid: str, sink) -> Any:
        return self.source.tap(call_sid, sink)

    def recent(self, call_sid: str) -> CallRing:
        ring = self.source.recent(call_sid)
        self.ring = ring.copy()
        return ring


def envelope(pcm: np.ndarray, window: int) -> np.ndarray:
    whole = len(pcm) // window * window
    return np.sqrt(np.mean(pcm[:whole].astype(float).reshape(-1, window) ** 2, axis=1))


async def test_opening_a_live_call_briefs_it_and_c_replays_its_ring_at_one_and_a_half(stack):  # noqa: F811
    stack.groq.structured_reply = json.dumps({"brief": BRIEF})
    card = FakeSoundCard()
    spy = RingSpy(stack.runtime.listen_in)
    app = console(stack, card, listen_in=spy)
    app.backend.briefs = stack.runtime.briefs  # type: ignore[attr-defined]
    notes = notes_of(app)
    async with app.run_test(size=SIZE) as pilot, placed(pilot, stack, spoken(1500)) as call:
        await wait_until(pilot, lambda: any(line.role == "caller"
                                            for line in app.board.get(call.sid).lines), 8)
        await highlighted(pilot, call)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CallViewScreen))
        brief = app.screen.query_one(CatchUpBrief)
        await wait_until(pilot, lambda: "(model)" in brief.content.plain, 5)
        assert brief.content.plain == f"Catch-up  {BRIEF}  (model)"
        await pilot.press("c")
        await wait_until(pilot, lambda: notes and spy.ring is not None)
        assert notes[-1].startswith("Catching up: the last ")
        heard = await asyncio.to_thread(pulled, card.speakers[0], 60)  # 1.2 s, faster than live
    ring = spy.ring
    assert ring is not None and ring.caller_end - ring.start > 2 * 8000  # greeting and turn
    call_audio = RingMix(ring)[ring.start : ring.start + 60 * 160 * 3 // 2]
    played, original = envelope(heard, 800), envelope(call_audio, 1200)  # 100 ms : 150 ms
    assert np.corrcoef(played[1:], original[1:])[0, 1] > 0.9  # the same sound, 1.5x as fast
    assert played.max() > 1000  # and there was sound to follow
