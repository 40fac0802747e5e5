"""Catch-up on join and listen-in done properly (issue 15), from the console's keys: `c` replays
the call's last seconds at 1.5x from its ring and then plays the call live; the call view shows
the brief of the call so far, the level meters, a whisper marked as such; `M` mutes the caller.
The sound card is the fake stream of test_audio_io (this machine has none): the assertions are
on the samples the speaker would play."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import numpy as np

from console.audio_codec import decode_samples, encode_samples
from console.audio_io import dbfs
from console.audio_ring import CallRing
from console.catch_up_audio import STRETCH_MARGIN
from console.events import OperatorActed
from console.summary.brief import CallBrief
from console.tui.app import VoiceConsoleApp
from console.tui.screens.call_view import CallViewScreen
from console.tui.screens.dialogs import PromptScreen
from console.tui.widgets.catch_up import CatchUpBrief, ListenMeters, render_meters
from console.tui.widgets.transcript import WHISPER_MARK

from .conftest import frozen_clock, wait_until
from .fakes import FakeBackend
from .test_audio_desk import SIZE, FakeSoundCard, FakeTaps, console_with, frame, with_call

RATE = 8000
TONE_HZ = 440
SECONDS = 3  # of each part of the seeded ring


class RingTaps(FakeTaps):
    """LiveCalls' listen-in source with its rings: `recent` copies the call's ring."""

    def __init__(self, ring: CallRing) -> None:
        super().__init__()
        self.ring = ring

    def recent(self, call_sid: str) -> CallRing:
        return self.ring.copy()


def console_with_ring(card: FakeSoundCard, ring: CallRing):
    """The console on a backend whose listen-in source keeps `ring` as the call's last seconds."""
    backend = FakeBackend()
    backend.listen_in = RingTaps(ring)
    app = VoiceConsoleApp(backend, clock=frozen_clock(), refresh_interval=0.02,
                          audio=card.devices())
    notes: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (notes.append(message), notify(message, **kw))
    return app, backend, notes


def tone_then_agent() -> CallRing:
    """3 s of the caller (a 440 Hz tone), then 3 s of the agent (a steady level) with the
    caller silent, on the ring's clock as a call would have put them there."""
    ring = CallRing()
    t = np.arange(SECONDS * RATE) / RATE
    tone = encode_samples((4000 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16))
    for start in range(0, len(tone), 160):
        ring.add("caller", tone[start : start + 160])
    for _ in range(SECONDS * 50):
        ring.add("agent", frame(-1000))
        ring.add("caller", frame(0))
    return ring


def pulled(stream, blocks: int, feed: Callable[[int], None] | None = None) -> np.ndarray:
    """What the speaker plays over `blocks` x 20 ms (PortAudio's thread); `feed(k)` first
    gives the call's k-th live 20 ms, as the call goes on in real time."""
    out = []
    for k in range(blocks):
        if feed is not None:
            feed(k)
        out.append(stream.pull(160))
    return np.concatenate(out).astype(int)


def runs(samples: np.ndarray) -> tuple[list[int], list[int]]:
    """Consecutive equal samples: their values and how many of each."""
    edges = np.flatnonzero(np.diff(samples)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(samples)]])
    return [int(samples[i]) for i in starts], [int(n) for n in ends - starts]


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * RATE / len(samples))


async def test_catch_up_replays_the_ring_at_one_and_a_half_times_then_plays_the_call_live():
    card = FakeSoundCard()
    app, backend, notes = console_with_ring(card, tone_then_agent())
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend)
        await pilot.press("c")
        await wait_until(pilot, lambda: notes)
        assert notes == ["Catching up: the last 6 s at 1.5×, then live (l to stop)"]
        heard = await asyncio.to_thread(pulled, card.speakers[0], 250)  # 5 s
        tone, agent = heard[400:15600], heard[16400:30800]  # 3 s of ring each in 2 s
        assert abs(dominant_hz(tone) - TONE_HZ) < 10  # faster, not higher
        assert 2600 < np.sqrt(np.mean(tone.astype(float) ** 2)) < 3000  # 4000 peak: ~2830
        assert np.all(np.abs(agent - decode_samples(frame(-1000))[0]) <= 2)
        played = int(np.flatnonzero(heard)[-1]) + 1  # 6 s of the call in about 4
        assert 0.98 * (6 * RATE / 1.5) < played < 6 * RATE / 1.5 + STRETCH_MARGIN + 1000
        assert app.audio_desk.meters("CA1").behind_s is None  # drawn level: live now
        sink = backend.listen_in.sinks["CA1"]
        for _ in range(4):
            sink("caller", frame(3000))
        live = await asyncio.to_thread(pulled, card.speakers[0], 3)
        assert np.all(live[:320] == decode_samples(frame(3000))[0])


async def test_catch_up_joins_the_live_call_without_a_gap_or_a_repeat():
    card = FakeSoundCard()
    ring = CallRing()
    for _ in range(50):  # the call's last second before the operator pressed c
        ring.add("caller", frame(500))
    app, backend, notes = console_with_ring(card, ring)
    codes = [0x80 + k % 100 for k in range(250)]  # frame k of the live call: one level each
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend)
        await pilot.press("c")
        await wait_until(pilot, lambda: app.audio_desk.listening == "CA1")
        sink = backend.listen_in.sinks["CA1"]

        def call_goes_on(k: int) -> None:
            sink("caller", bytes([codes[k]]) * 160)

        heard = await asyncio.to_thread(pulled, card.speakers[0], 250, call_goes_on)
        assert app.audio_desk.meters("CA1").behind_s is None  # 1 s behind, level in ~2 s
        levels = [int(level) for level in decode_samples(bytes(codes[:100]))]
        values, lengths = runs(heard[-100 * 160 :])  # the last 2 s: live, at 1x
        assert lengths[1:-1] == [160] * (len(lengths) - 2)  # every frame whole, once
        frames = [levels.index(value) for value in values]
        assert all((b - a) % 100 == 1 for a, b in zip(frames, frames[1:], strict=False))
        assert (249 - frames[-1]) % 100 <= 15  # at most 300 ms behind the call


async def test_the_call_view_meters_the_caller_and_the_agent_while_listening():
    card = FakeSoundCard()
    app, backend, notes = console_with(card)
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CallViewScreen))
        meters = app.screen.query_one(ListenMeters)
        assert not meters.display  # not on the speaker: no meters
        await pilot.press("l")
        await wait_until(pilot, lambda: app.audio_desk.listening == "CA1")
        sink = backend.listen_in.sinks["CA1"]

        def play() -> None:
            for _ in range(3):
                sink("caller", frame(1200))
                sink("agent", frame(-300))
            card.speakers[0].pull()

        levels = {"caller": dbfs(decode_samples(frame(1200))),
                  "agent": dbfs(decode_samples(frame(-300)))}
        expected = render_meters(levels, None).plain
        deadline = asyncio.get_running_loop().time() + 3
        while not (meters.display and meters.content.plain == expected):
            assert asyncio.get_running_loop().time() < deadline, meters.content.plain
            await asyncio.to_thread(play)  # the meter shows the loudest block since its
            await pilot.pause(0.05)  # last look (10 a second)
        assert round(levels["caller"]) == -29 and round(levels["agent"]) == -41
        assert expected.startswith("Listening live   caller " + "▮" * 8 + "▯")  # 8 cells of 16
        assert "agent " + "▮" * 5 + "▯" in expected  # -41 dBFS: 5 of 16


async def test_mute_caller_is_a_key_that_tells_the_runtime_and_shows_in_the_header():
    app, backend, notes = console_with(FakeSoundCard())
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CallViewScreen))
        header = lambda: app.screen.query_one("#call-header").content.plain  # noqa: E731
        await pilot.press("M")
        await wait_until(pilot, lambda: "caller muted" in header())
        await pilot.press("M")
        await wait_until(pilot, lambda: "caller muted" not in header())
        asked = [c for c in backend.control.calls if c[0] == "pause_listening"]
        assert asked == [("pause_listening", "CA1", True, "console"),
                         ("pause_listening", "CA1", False, "console")]


async def test_a_whisper_shows_in_the_transcript_marked_as_unheard_by_the_caller():
    app, backend, notes = console_with(FakeSoundCard())
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CallViewScreen))
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press(*"Tuesday", "enter")
        transcript = lambda: app.screen.query_one("#transcript-text").content.plain  # noqa: E731
        await wait_until(pilot, lambda: "Whisper  Tuesday" in transcript())
        assert f"Whisper  Tuesday{WHISPER_MARK}" in transcript()
        backend.play([OperatorActed("CA1", action="whisper", actor="cli", detail="be brief")])
        await wait_until(pilot, lambda: "Whisper  be brief" in transcript())


class Briefs:
    """The runtime's BriefSource: the extract at once, the model's line when `answer` is set."""

    def __init__(self, last: CallBrief) -> None:
        self.answer = asyncio.Event()
        self.last = last

    async def __call__(self, call_sid: str) -> AsyncIterator[CallBrief]:
        yield CallBrief("0:42 in · asked: “I'd like to book”", "rules", pending=True)
        await self.answer.wait()
        yield self.last


async def brief_shown(last: CallBrief) -> tuple[str, str]:
    """The brief line while the model is asked, and once it has answered."""
    app, backend, _ = console_with(FakeSoundCard())
    backend.briefs = briefs = Briefs(last)
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CallViewScreen))
        line = app.screen.query_one(CatchUpBrief)
        await wait_until(pilot, lambda: "asking the model" in line.content.plain)
        waiting = line.content.plain
        await pilot.press("M")  # the console answers keys meanwhile: nothing waits on the model
        await wait_until(pilot, lambda: app.board.get("CA1").caller_muted)
        briefs.answer.set()
        await wait_until(pilot, lambda: "asking" not in line.content.plain)
        return waiting, line.content.plain


async def test_opening_a_live_call_shows_the_extract_then_the_models_brief():
    waiting, answered = await brief_shown(CallBrief("Ana wants a cleaning on Tuesday.", "llm"))
    assert waiting == "Catch-up  0:42 in · asked: “I'd like to book”  (extract; asking the model…)"
    assert answered == "Catch-up  Ana wants a cleaning on Tuesday.  (model)"


async def test_a_brief_the_model_failed_says_so_and_keeps_the_extract():
    failed = CallBrief("0:42 in · asked: “I'd like to book”", "rules", problem="HTTP 500")
    _, answered = await brief_shown(failed)
    assert answered == ("Catch-up  0:42 in · asked: “I'd like to book”  "
                        "(extract: the model failed: HTTP 500)")
