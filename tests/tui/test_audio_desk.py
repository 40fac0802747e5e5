"""Listen-in and the operator's microphone, driven from the console's keys. The sound card is a
fake stream (this machine has none); the real "no device" answer is checked too."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import numpy as np
import pytest

from console.audio_codec import decode_samples, encode_samples
from console.audio_io import AudioDevices
from console.events import CallEnded, OperatorActed
from console.tui.app import VoiceConsoleApp
from console.tui.widgets.calls_table import CallsTable

from .conftest import frozen_clock, wait_until
from .fakes import FakeBackend, call_script
from .test_audio_io import FakeStream

SIZE = (120, 36)


class FakeTaps:
    """The runtime's ListenInSource (LiveCalls.tap) for calls the FakeBackend scripts."""

    def __init__(self) -> None:
        self.sinks: dict[str, Callable[[str, bytes], None]] = {}

    def tap(self, call_sid: str, sink: Callable[[str, bytes], None]) -> Callable[[], None]:
        if call_sid == "CAgone":
            raise LookupError(f"no live call {call_sid}")
        self.sinks[call_sid] = sink
        return lambda: self.sinks.pop(call_sid, None)


class FakeSoundCard:
    def __init__(self, *, speaker: bool = True, microphone: bool = True) -> None:
        self.present = {"output": speaker, "input": microphone}
        self.speakers: list[FakeStream] = []
        self.microphones: list[FakeStream] = []

    def devices(self) -> AudioDevices:
        return AudioDevices(
            open_output=self._speaker, open_input=self._microphone, why_unavailable=self._why
        )

    def _why(self, kind: str) -> str | None:
        return None if self.present[kind] else f"no audio {kind} device (Error querying device -1)"

    def _speaker(self, callback) -> FakeStream:
        self.speakers.append(FakeStream(callback))
        return self.speakers[-1]

    def _microphone(self, callback) -> tuple[FakeStream, int]:
        self.microphones.append(FakeStream(callback))
        return self.microphones[-1], 8000


def console_with(
    card: FakeSoundCard | None, *, taps: bool = True
) -> tuple[VoiceConsoleApp, FakeBackend, list[str]]:
    backend = FakeBackend()
    backend.listen_in = FakeTaps() if taps else None
    devices = card.devices() if card is not None else None
    app = VoiceConsoleApp(backend, clock=frozen_clock(), refresh_interval=0.02, audio=devices)
    notes: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (notes.append(message), notify(message, **kw))
    return app, backend, notes


async def with_call(pilot, backend: FakeBackend, sid: str = "CA1") -> None:
    backend.play(call_script(sid))
    table = pilot.app.dashboard.query_one(CallsTable)
    await wait_until(pilot, lambda: sid in set(table.sids))


async def press_listen_until_told(
    app: VoiceConsoleApp, backend: FakeBackend, notes: list[str], within: float = 3.0
) -> None:
    """Open the console with a call, press `l`, and wait for the console to say something."""
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend)
        await pilot.press("l")
        await wait_until(pilot, lambda: notes, within=within)


def frame(value: int) -> bytes:
    return encode_samples(np.full(160, value, dtype=np.int16))


async def test_listen_in_plays_both_legs_of_the_call_until_pressed_again() -> None:
    card = FakeSoundCard()
    app, backend, notes = console_with(card)
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend)
        await pilot.press("l")
        await wait_until(pilot, lambda: notes)
        assert notes[-1].startswith("Listening: both sides")
        sink = backend.listen_in.sinks["CA1"]
        for _ in range(3):
            sink("caller", frame(1200))
            sink("agent", frame(800))
        heard = await asyncio.to_thread(card.speakers[0].pull)  # the PortAudio thread's view
        expected = decode_samples(frame(1200)).astype(int) + decode_samples(frame(800))
        assert (heard == expected).all()
        await pilot.press("l")
        await wait_until(pilot, lambda: len(notes) == 2)
        assert notes[-1] == "Stopped listening"
        assert backend.listen_in.sinks == {} and card.speakers[0].closed


async def test_listen_in_stops_by_itself_when_the_call_ends() -> None:
    card = FakeSoundCard()
    app, backend, notes = console_with(card)
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend)
        await pilot.press("l")
        await wait_until(pilot, lambda: app.audio_desk.listening == "CA1")
        backend.play([CallEnded("CA1", reason="caller hung up")])
        await wait_until(pilot, lambda: card.speakers[0].closed)
        assert backend.listen_in.sinks == {} and app.audio_desk.listening is None


async def test_listen_in_without_a_speaker_says_why() -> None:
    app, backend, notes = console_with(FakeSoundCard(speaker=False))
    await press_listen_until_told(app, backend, notes)
    assert notes == ["Listen-in unavailable: no audio output device (Error querying device -1)"]
    assert backend.listen_in.sinks == {}


async def test_listen_in_on_this_machine_says_there_is_no_sound_card() -> None:
    sd = pytest.importorskip("sounddevice", exc_type=OSError)
    if len(sd.query_devices()):
        pytest.skip("this machine has audio devices")
    app, backend, notes = console_with(None)  # the real sounddevice and PortAudio
    await press_listen_until_told(app, backend, notes, within=10)
    assert notes == ["Listen-in unavailable: no audio output device (Error querying device -1)"]


async def test_listen_in_without_a_runtime_tap_says_why() -> None:
    app, backend, notes = console_with(FakeSoundCard(), taps=False)
    await press_listen_until_told(app, backend, notes)
    assert notes == ["Listen-in unavailable: the runtime does not offer call audio"]


async def test_listen_in_without_sounddevice_names_the_missing_package(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # as if the audio extra were absent
    app, backend, notes = console_with(None)
    await press_listen_until_told(app, backend, notes)
    assert notes[0].startswith("Listen-in unavailable: sounddevice is not installed")


async def test_take_over_streams_the_microphone_to_the_caller_until_hand_back() -> None:
    card = FakeSoundCard()
    app, backend, notes = console_with(card)
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend)
        await pilot.press("t")
        await wait_until(pilot, lambda: app.audio_desk.speaking == "CA1")
        assert notes[-1] == "You have the call: your microphone is live to the caller"

        def speak() -> None:  # 60 ms of the operator's voice, on PortAudio's thread
            for _ in range(3):
                card.microphones[0].capture(np.full(160, 3000, dtype=np.int16))

        await asyncio.to_thread(speak)
        sent = lambda: [c for c in backend.control.calls if c[0] == "send_operator_audio"]  # noqa: E731
        await wait_until(pilot, lambda: len(sent()) == 3)
        assert sent() == [("send_operator_audio", "CA1", 160)] * 3
        await pilot.press("t")  # hand back
        await wait_until(pilot, lambda: card.microphones[0].closed)
        assert app.audio_desk.speaking is None


async def test_a_hand_back_by_another_operator_closes_the_microphone() -> None:
    card = FakeSoundCard()
    app, backend, notes = console_with(card)
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend)
        await pilot.press("t")
        await wait_until(pilot, lambda: app.audio_desk.speaking == "CA1")
        backend.play([OperatorActed("CA1", action="hand-back", actor="cli")])
        await wait_until(pilot, lambda: card.microphones[0].closed)


async def test_take_over_without_a_microphone_points_to_typed_say() -> None:
    app, backend, notes = console_with(FakeSoundCard(microphone=False))
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend)
        await pilot.press("t")
        await wait_until(pilot, lambda: notes)
        assert notes == [
            "You have the call. No microphone here (no audio input device "
            "(Error querying device -1)): press s to type what the caller hears"
        ]
        assert app.audio_desk.speaking is None and app.board.get("CA1").taken_over


async def test_quitting_closes_the_sound_card_before_the_runtime_stops() -> None:
    card = FakeSoundCard()
    app, backend, _ = console_with(card)
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend)
        await pilot.press("l", "t")
        await wait_until(pilot, lambda: app.audio_desk.speaking and app.audio_desk.listening)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: backend.stopped)
        assert card.speakers[0].closed and card.microphones[0].closed


async def test_listen_in_on_a_call_that_just_ended_says_so_and_frees_the_speaker() -> None:
    card = FakeSoundCard()
    app, backend, notes = console_with(card)
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend, "CAgone")  # ended in the runtime, not yet on the board
        await pilot.press("l")
        await wait_until(pilot, lambda: notes)
        assert notes == ["Listen-in unavailable: no live call CAgone"]
        assert card.speakers[0].closed and app.audio_desk.listening is None


async def test_with_the_microphone_live_the_operator_hears_only_the_caller() -> None:
    card = FakeSoundCard()
    app, backend, notes = console_with(card)
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend)
        await pilot.press("l", "t")
        await wait_until(pilot, lambda: app.audio_desk.speaking and app.audio_desk.listening)
        sink = backend.listen_in.sinks["CA1"]
        for _ in range(3):
            sink("caller", frame(1200))
            sink("agent", frame(800))  # the operator's own voice, on its way to the caller
        heard = await asyncio.to_thread(card.speakers[0].pull)
        assert (heard == decode_samples(frame(1200))).all()  # no echo of themselves
        await pilot.press("t")  # hand back: the agent is heard again
        await wait_until(pilot, lambda: app.audio_desk.speaking is None)
        for _ in range(3):
            sink("agent", frame(800))
        heard = await asyncio.to_thread(card.speakers[0].pull)
        both = decode_samples(frame(1200)).astype(int) + decode_samples(frame(800))
        assert (heard == both).all()  # the caller's queued audio, and the agent again


async def test_a_microphone_that_refuses_to_open_leaves_typed_say_as_the_way() -> None:
    card = FakeSoundCard()

    def refuse(callback):
        raise OSError("Invalid sample rate")  # what PortAudio says for an unsupported format

    card._microphone = refuse
    app, backend, notes = console_with(card)
    async with app.run_test(size=SIZE) as pilot:
        await with_call(pilot, backend)
        await pilot.press("t")
        await wait_until(pilot, lambda: notes)
        assert notes == [
            "You have the call, but the microphone failed (Invalid sample rate): "
            "press s to type what the caller hears"
        ]
        assert app.audio_desk.speaking is None
