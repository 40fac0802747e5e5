"""The operator's speaker and microphone, owned by the app (never by a screen: a screen's workers
die with it, and a call's audio must not).

At most one call is heard at a time (listen-in: both legs mixed) and at most one call hears the
operator's microphone (while it is taken over). Opening and closing a sound device blocks, so it
runs in a thread; everything else here is a few calls on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from console.audio_io import SAMPLE_RATE, AudioDevices, ListenInPlayer, OperatorMic
from console.calls.control import CallControl
from console.catch_up_audio import CatchUpPlayer
from console.tui.backend import ListenInSource

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

log = logging.getLogger(__name__)

TYPE_INSTEAD = "press s to type what the caller hears"


class Notice(NamedTuple):
    """What the operator is told: the words and a Textual notification severity."""

    message: str
    severity: SeverityLevel = "information"


def why_listen_in_unavailable(source: ListenInSource | None, devices: AudioDevices) -> str | None:
    """None when listen-in can work here, else the reason. Blocking (probes PortAudio)."""
    reason = devices.why_unavailable("output")
    if reason is None and source is None:
        reason = "the runtime does not offer call audio"
    return reason


class Meters(NamedTuple):
    """What the console shows of the call being heard: each leg's level (dBFS) and, while
    catching up, how far behind the call the operator still is."""

    levels: dict[str, float]
    behind_s: float | None


class AudioDesk:
    def __init__(
        self, source: ListenInSource | None, control: CallControl, devices: AudioDevices
    ) -> None:
        self._source = source
        self._control = control
        self._devices = devices
        self._lock = asyncio.Lock()  # one device change at a time (keys can arrive faster)
        self.listening: str | None = None  # the call on the speaker
        self.speaking: str | None = None  # the call hearing the microphone
        self._player: ListenInPlayer | CatchUpPlayer | None = None
        self._untap: Callable[[], None] | None = None
        self._mic: OperatorMic | None = None
        self._mic_task: asyncio.Task[None] | None = None

    # -- listen-in ------------------------------------------------------------------------------

    async def toggle_listen(self, call_sid: str) -> Notice:
        async with self._lock:
            if self.listening == call_sid:
                await self._stop_listening()
                return Notice("Stopped listening")
            reason = await asyncio.to_thread(why_listen_in_unavailable, self._source, self._devices)
            if reason is not None:
                return Notice(f"Listen-in unavailable: {reason}", "warning")
            await self._stop_listening()
            return await self._listen(call_sid)

    async def _listen(self, call_sid: str) -> Notice:
        assert self._source is not None
        player = self._player = ListenInPlayer(self._devices.open_output)
        try:
            await asyncio.to_thread(player.start)
            self._untap = self._source.tap(call_sid, player.mix.feed)
        except Exception as error:  # no such call any more, or the device refused to open
            await self._stop_listening()
            return Notice(f"Listen-in unavailable: {error}", "warning")
        self.listening = call_sid
        self._sidetone()
        return Notice("Listening: both sides on this machine's speaker (l again to stop)")

    # -- catch-up on join (issue 15) -------------------------------------------------------------

    async def catch_up(self, call_sid: str) -> Notice:
        """The call's last 15 s at 1.5x on the speaker, then the call live (listen-in)."""
        async with self._lock:
            reason = await asyncio.to_thread(why_listen_in_unavailable, self._source, self._devices)
            if reason is None and not hasattr(self._source, "recent"):
                reason = "the runtime keeps no recent call audio"
            if reason is not None:
                return Notice(f"Catch-up unavailable: {reason}", "warning")
            await self._stop_listening()
            return await self._catch_up(call_sid)

    async def _catch_up(self, call_sid: str) -> Notice:
        source: Any = self._source
        player = self._player = CatchUpPlayer(self._devices.open_output)
        try:
            await asyncio.to_thread(player.start)
            ring = source.recent(call_sid)  # these two in one loop step: no frame missed
            self._untap = source.tap(call_sid, player.feed)
        except Exception as error:  # the call ended meanwhile, or the device refused
            await self._stop_listening()
            return Notice(f"Catch-up unavailable: {error}", "warning")
        player.load(ring)
        self.listening = call_sid
        self._sidetone()
        seconds = (ring.caller_end - ring.start) / SAMPLE_RATE
        return Notice(f"Catching up: the last {seconds:.0f} s at 1.5×, then live (l to stop)")

    def meters(self, call_sid: str) -> Meters | None:
        """Levels of the call being heard (None: not this one). Cheap: the console asks 10x/s."""
        player = self._player
        if player is None or self.listening != call_sid:
            return None
        behind = player.behind_s if isinstance(player, CatchUpPlayer) else None
        return Meters(player.meter.take(), behind)

    async def _stop_listening(self) -> None:
        untap, self._untap = self._untap, None
        player, self._player = self._player, None
        self.listening = None
        if untap is not None:
            untap()
        if player is not None:
            await asyncio.to_thread(player.close)

    # -- the operator's microphone --------------------------------------------------------------

    async def start_mic(self, call_sid: str) -> Notice:
        """After a take-over: the operator's microphone to the caller, if there is one."""
        if not getattr(self._control, "carries_audio", True):  # a fleet console (issue 17)
            return Notice(f"You have the call. Its audio stays on its worker: {TYPE_INSTEAD}")
        async with self._lock:
            reason = await asyncio.to_thread(self._devices.why_unavailable, "input")
            if reason is not None:
                return Notice(f"You have the call. No microphone here ({reason}): {TYPE_INSTEAD}")
            await self._stop_mic()
            return await self._open_mic(call_sid)

    async def _open_mic(self, call_sid: str) -> Notice:
        mic = self._mic = OperatorMic(self._devices.open_input)
        try:
            await asyncio.to_thread(mic.open, asyncio.get_running_loop())
        except Exception as error:  # the device went away or refused the format
            await self._stop_mic()
            failed = f"You have the call, but the microphone failed ({error}): {TYPE_INSTEAD}"
            return Notice(failed, "warning")
        self.speaking = call_sid
        self._sidetone()
        self._mic_task = asyncio.create_task(
            self._forward(mic, call_sid), name=f"operator mic to {call_sid}"
        )
        return Notice("You have the call: your microphone is live to the caller")

    async def _forward(self, mic: OperatorMic, call_sid: str) -> None:
        try:
            async for frame in mic.frames():
                await self._control.send_operator_audio(call_sid, frame)
        except Exception as error:  # the call ended under us; release() tidies up
            log.info("operator mic to %s stopped: %s", call_sid, error)

    async def _stop_mic(self) -> None:
        task, self._mic_task = self._mic_task, None
        mic, self._mic = self._mic, None
        self.speaking = None
        self._sidetone()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if mic is not None:
            await asyncio.to_thread(mic.close)

    def _sidetone(self) -> None:
        """While the microphone is live on the call being heard, its agent leg is the operator's
        own voice ~100 ms late (the pacer's lead): an echo, and a feedback loop from speaker to
        microphone. So the operator hears only the caller then."""
        if self._player is not None:
            mine = self.speaking is not None and self.speaking == self.listening
            self._player.muted = {"agent"} if mine else set()

    # -- whole-desk -----------------------------------------------------------------------------

    async def release(self, call_sid: str, *, mic_only: bool = False) -> None:
        """The call ended (or was handed back: `mic_only`): stop whatever used it."""
        async with self._lock:
            if self.speaking == call_sid:
                await self._stop_mic()
            if self.listening == call_sid and not mic_only:
                await self._stop_listening()

    async def close(self) -> None:
        async with self._lock:
            await self._stop_mic()
            await self._stop_listening()
