"""SimulatedCaller: a phone call as Twilio Media Streams would deliver it, to any media server.

Like Twilio it sends `connected` and `start`, then one 160-byte media frame every 20 ms for the
whole call (silence 0xFF when the caller is not talking), scheduled on absolute deadlines of a
monotonic clock so the cadence never drifts. It plays what it receives on a simulated speaker
(playout.py), echoes marks when their audio has played, honours `clear`, speaks a script of
utterances (waiting for each reply, or barging in), presses DTMF keys, then sends `stop`.
`run()` returns a JSON-able summary; benches read latencies and pacing from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from twilio.request_validator import SIGNATURE_HEADER, RequestValidator

from console import audio_codec as audio
from console.simulate.log import CallLog
from console.simulate.options import CallerOptions, Utterance, new_sid
from console.simulate.playout import TURN_GAP_SAMPLES, Playout
from console.simulate.ringing import Answer, ring, stream_ended
from console.simulate.summary import build_summary
from console.simulate.wav import write_wav
from console.telephony import twilio_protocol as tp

__all__ = ["CallerOptions", "SimulatedCaller", "Utterance"]

FRAME_S = audio.FRAME_MS / 1000
MAX_LAG_S = 2.0  # behind schedule by more than this (a stalled machine): skip, do not burst
WAIT_TICK_S = 0.02  # waits re-check time-based conditions (playout, quiet) at frame rate
TURN_GAP_S = TURN_GAP_SAMPLES / audio.SAMPLE_RATE  # fast mode: 100 ms without audio = new turn


class SimulatedCaller:
    """One call. Public after `run()`: `log`, the summary's raw material (`log.sent_at`,
    `log.received_at`, `log.turn_starts`, `log.clears`: seconds since the call started) for
    benches that want more."""

    def __init__(self, options: CallerOptions) -> None:
        self.options = options
        self.playout = Playout(instant=options.fast)
        self.received_frames: list[bytes] = []  # with options.keep_frames: every frame received
        self.log = CallLog()  # what happened, for the summary and the benches
        self.turn_first_frames: list[bytes] = []  # the first frame of each agent turn (benches)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._send_lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._closed = asyncio.Event()
        self._outbox: deque[bytes] = deque()
        self._outbox_empty = asyncio.Event()
        self._speaking: dict[str, Any] = {}
        self._sequence = 0
        self._chunk = 0
        self._t0 = 0.0
        self._last_arrival = -1.0
        self._stream_parameters: dict[str, str] = options.parameters()
        self._followed: tuple[str, str] | None = None  # a voice_url's <Stream url>, as signed
        self._action = ""  # the TwiML's <Connect action> (options.follow_action)
        self._http: aiohttp.ClientSession | None = None

    # ---- clock --------------------------------------------------------------------------

    def _clock(self) -> float:
        return asyncio.get_running_loop().time()

    def _elapsed(self) -> float:
        return self._clock() - self._t0

    @property
    def started_at(self) -> float:
        """The loop clock (time.monotonic) when the call started: add it to the relative times
        to compare them with timestamps taken elsewhere in the process."""
        return self._t0

    def _now_sample(self) -> int:
        return int(self._elapsed() * audio.SAMPLE_RATE)

    # ---- entry point --------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        """Place the call, play the script, hang up; returns the summary."""
        try:
            async with aiohttp.ClientSession() as session:
                self._http = session
                if await self._answered(session):
                    ws = await self._connect(session)
                    if ws is not None:
                        await self._call(ws)
        finally:
            self.log.duration = self._elapsed() if self._t0 else 0.0
        await self._save_recording()
        self.log.heard_bytes = len(self.playout.heard)
        return build_summary(self.log, self.options)

    def signature_headers(self) -> dict[str, str]:
        """What Twilio puts on the media upgrade: X-Twilio-Signature over the wss URL."""
        if not self.options.auth_token:
            return {}
        validator = RequestValidator(self.options.auth_token)
        signed = self._followed[1] if self._followed else self.options.signed()
        return {SIGNATURE_HEADER: validator.compute_signature(signed, {})}

    async def _answered(self, session: aiohttp.ClientSession) -> bool:
        """With an auth token the call rings /voice first, as on Twilio, and streams with the
        parameters its TwiML names (the server's one-time ticket among them); with a voice_url
        it also streams where that TwiML says (a fleet may send it to another worker)."""
        if not (self.options.auth_token or self.options.voice_url):
            self._stream_parameters = self.options.parameters()
            return True
        try:
            async with asyncio.timeout(self.options.connect_timeout_s):
                answer = await ring(session, self.options)
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            self.log.errors.append(f"voice webhook: {type(error).__name__}: {error}"[:200])
            self.log.ended_by = "connect-failed"
            return False
        if answer.refusal:
            self.log.errors.append(f"voice webhook: {answer.refusal}"[:200])
            self.log.ended_by = "refused"
            return False
        self._stream_parameters = {**answer.parameters, **(self.options.custom_parameters or {})}
        if self.options.voice_url and answer.stream_url:
            self._follow(answer)
        self._action = answer.action_url
        return True

    def _follow(self, answer: Answer) -> None:
        """Stream where the TwiML says, signed over its wss form (as Twilio signs it)."""
        self._followed = (answer.stream_url, "wss://" + answer.stream_url.partition("://")[2])

    async def _connect(self, session: aiohttp.ClientSession) -> Any:
        try:
            async with asyncio.timeout(self.options.connect_timeout_s):
                return await session.ws_connect(
                    self._followed[0] if self._followed else self.options.url,
                    headers=self.signature_headers(), autoping=True
                )
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            self.log.errors.append(f"connect: {type(error).__name__}: {error}"[:200])
            self.log.ended_by = "connect-failed"
            return None

    async def _call(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws, self.log.connected = ws, True
        await self._send(tp.build_connected())
        await self._send(self._start_message())
        self._t0 = self._clock()
        receiver = asyncio.create_task(self._receive(ws), name=f"caller-{self._tag}-receive")
        pacer = None if self.options.fast else self._start_pacer()
        try:
            await self._play_script()
        finally:
            await self._hang_up(ws, pacer, receiver)

    @property
    def _tag(self) -> str:
        return self.options.call_sid[-6:]

    def _start_pacer(self) -> asyncio.Task[None]:
        return asyncio.create_task(self._pace(), name=f"caller-{self._tag}-pacer")

    def _start_message(self) -> str:
        o = self.options
        return tp.build_start(
            o.stream_sid, o.call_sid, o.account_sid, self._stream_parameters,
            self._next_sequence()
        )

    async def _play_script(self) -> None:
        try:
            async with asyncio.timeout(self.options.max_call_s):
                await self._script()
        except TimeoutError:
            self.log.errors.append(f"call exceeded {self.options.max_call_s:.0f} s")

    async def _hang_up(self, ws: Any, pacer: asyncio.Task[None] | None,
                       receiver: asyncio.Task[None]) -> None:
        if pacer is not None:
            pacer.cancel()
            await asyncio.gather(pacer, return_exceptions=True)
        self.playout.hang_up(self._now_sample())
        if not self._closed.is_set():
            self.log.ended_by = "caller"
            o = self.options
            await self._send(
                tp.build_stop(o.stream_sid, o.account_sid, o.call_sid, self._next_sequence())
            )
            with contextlib.suppress(Exception):
                await (self._ws or ws).close()  # the call's stream now (it may have moved)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):  # the server's close handshake; never hang on it
                await asyncio.gather(receiver, return_exceptions=True)
        receiver.cancel()
        if receiver.done() and not receiver.cancelled() and receiver.exception():
            self.log.errors.append(f"receiver failed: {receiver.exception()!r}"[:200])

    # ---- the script ---------------------------------------------------------------------

    async def _script(self) -> None:
        heard_from = 0.0  # replies count from here: call start, then each speech end
        first = self.options.utterances[0] if self.options.utterances else None
        if self.options.wait_for_greeting and (first is None or first.barge_in_after_ms is None):
            await self._wait_reply(0.0, self.options.greeting_timeout_s, required=False)
        for index, utterance in enumerate(self.options.utterances):
            if self._closed.is_set():
                return
            if utterance.barge_in_after_ms is not None:
                await self._wait_turn_then(heard_from, utterance.barge_in_after_ms)
            heard_from = await self._speak(index, utterance)
            if utterance.wait_for_reply and not self._next_barges_in(index):
                await self._wait_reply(heard_from, self.options.reply_timeout_s, required=True)
        await self._press_keys()
        await self._hold()

    async def _hold(self) -> None:
        """Stay on the line (the pacer keeps sending silence) while `options.hold` runs."""
        if self.options.hold is None or self._closed.is_set():
            return
        hold = asyncio.create_task(_awaited(self.options.hold()), name=f"caller-{self._tag}-hold")
        closed = asyncio.create_task(self._closed.wait(), name=f"caller-{self._tag}-closed")
        try:
            await asyncio.wait({hold, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (hold, closed):
                task.cancel()
            await asyncio.gather(hold, closed, return_exceptions=True)

    def _next_barges_in(self, index: int) -> bool:
        following = self.options.utterances[index + 1 : index + 2]
        return bool(following) and following[0].barge_in_after_ms is not None

    async def _wait_turn_then(self, since: float, delay_ms: float) -> None:
        if await self._wait(lambda: self._turn_after(since) is not None, self._reply_wait()):
            await asyncio.sleep(delay_ms / 1000)  # the caller's reaction time, not test sync

    def _reply_wait(self) -> float:
        return self.options.reply_timeout_s

    async def _press_keys(self) -> None:
        if not self.options.dtmf or self._closed.is_set():
            return
        pressed_at = self._elapsed()
        for digit in self.options.dtmf:
            await self._send(tp.build_dtmf(self.options.stream_sid, digit, self._next_sequence()))
            self.log.dtmf_sent += digit
            if not self.options.fast:
                await asyncio.sleep(self.options.dtmf_gap_ms / 1000)  # a finger's pace
        await self._wait_reply(pressed_at, self.options.dtmf_reply_timeout_s, required=False)

    async def _speak(self, index: int, utterance: Utterance) -> float:
        """Say it; returns the speech end (seconds since call start)."""
        record: dict[str, Any] = {
            "index": index,
            "label": utterance.label,
            "barge_in": utterance.barge_in_after_ms is not None,
        }
        self.log.speech.append(record)
        if utterance.keys:
            await self._press(utterance.keys, record)
            pressed: float = record["end"]  # _press wrote it
            return pressed
        speech = audio.frames(utterance.mulaw)
        if self.options.fast:
            await self._speak_fast(speech, record)
        else:
            await self._speak_paced(speech, record)
        ended: float = record.get("end", self._elapsed())
        return ended

    async def _press(self, keys: str, record: dict[str, Any]) -> None:
        record["start"] = self._elapsed()
        for digit in keys:
            await self._send(tp.build_dtmf(self.options.stream_sid, digit, self._next_sequence()))
            self.log.dtmf_sent += digit
        record["end"] = self._elapsed()

    async def _speak_fast(self, speech: list[bytes], record: dict[str, Any]) -> None:
        record["start"] = self._elapsed()
        for frame in speech:
            await self._send_frame(frame, is_speech=True)
        record["end"] = self._elapsed()
        for _ in range(int(self.options.fast_tail_ms // audio.FRAME_MS)):
            await self._send_frame(audio.silence(audio.FRAME_MS), is_speech=False)

    async def _speak_paced(self, speech: list[bytes], record: dict[str, Any]) -> None:
        self._speaking = record
        self._outbox_empty.clear()
        self._outbox.extend(speech)
        await self._wait(self._outbox_empty.is_set, len(speech) * FRAME_S + MAX_LAG_S + 5)

    # ---- waiting ------------------------------------------------------------------------

    async def _wait(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        """Until `condition()` holds, the call closes, or the timeout; re-checked on every
        received message and at least every 20 ms (time-based conditions)."""
        deadline = self._clock() + timeout_s
        while not condition():
            remaining = deadline - self._clock()
            if remaining <= 0 or self._closed.is_set():
                return condition()
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, WAIT_TICK_S)):
                    await self._changed.wait()
        return True

    def _turn_after(self, since: float) -> float | None:
        return next((t for t in self.log.turn_starts if t > since), None)

    def _reply_finished(self, since: float) -> bool:
        quiet = self._elapsed() - self._last_arrival >= self.options.reply_quiet_ms / 1000
        return (
            self._turn_after(since) is not None and quiet and self.playout.idle(self._now_sample())
        )

    async def _wait_reply(self, since: float, first_audio_s: float, required: bool) -> None:
        """Wait for the agent's next turn to start (up to `first_audio_s`) and finish playing."""
        started = await self._wait(lambda: self._turn_after(since) is not None, first_audio_s)
        if not started:
            if required and not self._closed.is_set():
                self.log.errors.append(f"no reply within {first_audio_s:.1f} s after {since:.2f} s")
            return
        if not await self._wait(lambda: self._reply_finished(since), self._reply_wait()):
            self.log.errors.append(f"reply after {since:.2f} s did not finish playing")

    # ---- sending ------------------------------------------------------------------------

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    async def _send(self, text: str) -> bool:
        ws = self._ws
        if ws is None or ws.closed:
            return False
        async with self._send_lock:
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError, aiohttp.ClientError):
                return False
        return True

    async def _send_frame(self, frame: bytes, is_speech: bool) -> None:
        self._chunk += 1
        timestamp = (self._chunk - 1) * audio.FRAME_MS  # audio time, as Twilio stamps it
        message = tp.build_inbound_media(
            self.options.stream_sid, frame, self._next_sequence(), self._chunk, timestamp
        )
        if await self._send(message):
            self.log.sent_at.append(self._elapsed())
            self.log.speech_frames_sent += is_speech

    async def _pace(self) -> None:
        """One frame per 20 ms on absolute deadlines t0 + n*20 ms: sleep jitter never adds up."""
        n = 0
        while not self._closed.is_set():
            lag = self._clock() - (self._t0 + n * FRAME_S)
            if lag < 0:
                await asyncio.sleep(-lag)
            elif lag > MAX_LAG_S:
                n += int(lag / FRAME_S)  # the loop stalled for seconds: resume the schedule
                continue
            await self._send_paced_frame()
            await self._echo(self.playout.due_marks(self._now_sample()))
            self._changed.set()
            n += 1

    async def _send_paced_frame(self) -> None:
        if not self._outbox:
            await self._send_frame(audio.silence(audio.FRAME_MS), is_speech=False)
            return
        frame = self._outbox.popleft()
        record = self._speaking
        record.setdefault("start", self._elapsed())
        await self._send_frame(frame, is_speech=True)
        if not self._outbox:
            record["end"] = self._elapsed()
            self._outbox_empty.set()

    async def _echo(self, names: list[str]) -> None:
        for name in names:
            await self._send(
                tp.build_mark_echo(self.options.stream_sid, name, self._next_sequence())
            )
            self.log.marks_echoed.append(name)

    # ---- receiving ----------------------------------------------------------------------

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Read the call's stream, and each stream that follows it (options.follow_action)."""
        stream: aiohttp.ClientWebSocketResponse | None = ws
        try:
            while stream is not None:
                await self._read(stream)
                stream = await self._next_stream()
        finally:
            if not self.log.ended_by:
                self.log.ended_by = "server"
            self._closed.set()
            self._changed.set()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for message in ws:
                await self._on_message(message)
                self._changed.set()
        finally:
            self.log.close_code = ws.close_code

    async def _next_stream(self) -> aiohttp.ClientWebSocketResponse | None:
        """Twilio's way when a <Connect><Stream> ends and the caller is still on the line: ask
        the <Connect action> what next, and if its TwiML connects a stream, open it for the same
        call (a new stream SID, the new TwiML's parameters)."""
        if not (self.options.follow_action and self._action and self._http is not None):
            return None
        if self.log.ended_by == "caller":
            return None
        try:
            answer = await stream_ended(self._http, self.options, self._action)
        except (aiohttp.ClientError, OSError) as error:
            self.log.errors.append(f"connect action: {type(error).__name__}: {error}"[:200])
            return None
        if not answer.stream_url:
            return None  # the call ends (a hang-up, an apology)
        self._follow(answer)
        self._action, self._stream_parameters = answer.action_url, answer.parameters
        self.options = dataclasses.replace(self.options, stream_sid=new_sid("MZ"))
        return await self._restream()

    async def _restream(self) -> aiohttp.ClientWebSocketResponse | None:
        assert self._http is not None
        ws: aiohttp.ClientWebSocketResponse | None = await self._connect(self._http)
        if ws is None:
            return None
        self._ws = ws
        self.log.restreams.append(self._elapsed())
        await self._send(tp.build_connected())
        await self._send(self._start_message())
        return ws

    async def _on_message(self, message: aiohttp.WSMessage) -> None:
        if message.type is not aiohttp.WSMsgType.TEXT:
            self._protocol_error(f"unexpected {message.type.name} frame")
            return
        try:
            event = tp.parse_outbound(message.data)
        except tp.ProtocolError as error:
            self._protocol_error(str(error))
            return
        await self._on_event(event)

    async def _on_event(self, event: tp.OutboundEvent) -> None:
        now = self._now_sample()
        if isinstance(event, tp.OutboundMedia):
            self._on_media(event.payload, now)
        elif isinstance(event, tp.OutboundMark):
            self.log.marks_received += 1
            await self._echo(self.playout.add_mark(event.name, now))
        else:
            self.log.clears.append(self._elapsed())
            await self._echo(self.playout.clear(now))

    def _on_media(self, payload: bytes, now: int) -> None:
        arrival = self._elapsed()
        new_turn = self.playout.add_audio(payload, now) or self._fast_turn(arrival)
        if new_turn:
            self.log.turn_starts.append(arrival)
            self.turn_first_frames.append(payload)
        self.log.received_at.append(arrival)
        if self.options.keep_frames:
            self.received_frames.append(payload)
        self._last_arrival = arrival

    def _fast_turn(self, arrival: float) -> bool:
        """Fast mode plays instantly, so a turn starts after 100 ms without audio or a clear."""
        if not self.options.fast:
            return False
        cleared = bool(self.log.clears) and self.log.clears[-1] >= self._last_arrival
        return arrival - self._last_arrival >= TURN_GAP_S or cleared

    def _protocol_error(self, detail: str) -> None:
        self.log.protocol_errors += 1
        if self.log.protocol_errors <= 20:  # keep the summary readable under a flood
            self.log.errors.append(f"protocol: {detail}"[:200])

    # ---- after the call -----------------------------------------------------------------

    async def _save_recording(self) -> None:
        path = self.options.record_path
        if path is None:
            return
        pcm = audio.mulaw_to_pcm16(bytes(self.playout.heard))
        try:
            await asyncio.to_thread(write_wav, path, pcm)
        except OSError as error:
            self.log.errors.append(f"record: {error}")


async def _awaited(awaitable: Awaitable[object]) -> object:
    return await awaitable
