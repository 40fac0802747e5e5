"""The embedded-default demo: our own server, and simulated callers who speak a scripted
conversation in a local voice over the real Twilio protocol. No credentials, no network."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console import events as ev
from console import locations
from console.config import Settings
from console.providers.wer import word_error_rate
from console.runtime import Runtime, RuntimeStatus
from console.simulate.caller import CallerOptions, SimulatedCaller, Utterance

log = logging.getLogger(__name__)

# What the demo caller says, per profile: four turns that exercise the scripted responder.
SCRIPTS: dict[str, list[str]] = {
    "scheduling": [
        "Hi, I would like to book an appointment.",
        "My name is Maria Lopez.",
        "My number is five five five one two three four.",
        # A day and time, so the call books and its summary says so (issue 14).
        "Tuesday at nine works. Thank you, goodbye.",
    ],
    "medical_intake": [
        "Hello, I have had a bad cough for three days.",
        "My name is Tom Baker.",
        "My date of birth is March third nineteen eighty.",
        "Thank you, goodbye.",
    ],
    "tech_support": [
        "Hi, my internet is down.",
        "I already restarted the router.",
        "My account number is four four two nine one.",
        "Thanks, goodbye.",
    ],
}


# The demo places simulated calls on this machine: it has no business with the Twilio number (its
# webhook would be re-pointed at a server that is gone in a minute), a tunnel or the public URL.
_NOT_FOR_THE_DEMO = ("twilio_account_sid", "twilio_auth_token", "twilio_phone_number",
                     "public_url", "public_ngrok_authtoken")


def demo_settings(settings: Settings, *, db: Path | None = None) -> Settings:
    """The demo's settings: its own database (so its own data folder, admin file, lock and log)
    unless `db` is given, and nothing that reaches Twilio or ngrok."""
    update: dict[str, Any] = {name: None for name in _NOT_FOR_THE_DEMO}
    update["data_db"] = db or locations.demo_db_path(settings.data.db)
    return settings.replace(**update)


@dataclass
class DemoCall:
    """What one demo call looked like, gathered from the event bus."""

    call_sid: str
    lines: list[str]
    heard: list[str] = field(default_factory=list)
    agent: list[str] = field(default_factory=list)
    latencies: list[dict[str, float]] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    outcome: ev.CallSummarized | None = None
    summarized: asyncio.Event = field(default_factory=asyncio.Event)

    def observe(self, event: ev.CallEvent) -> None:
        if event.call_sid != self.call_sid:
            return
        if isinstance(event, ev.TurnCompleted):
            (self.heard if event.role == "caller" else self.agent).append(event.text)
        elif isinstance(event, ev.TurnMeasured) and "voice_to_voice" in event.stages:
            self.latencies.append(event.stages)
        elif isinstance(event, ev.CallEnded):
            self.ended.set()
        elif isinstance(event, ev.CallSummarized):
            self.outcome = event
            self.summarized.set()

    def summary(self) -> dict[str, Any]:
        v2v = [stage["voice_to_voice"] for stage in self.latencies]
        return {
            "call_sid": self.call_sid,
            "caller_lines": self.lines,
            "recognized": self.heard,
            "word_error_rate": round(word_error_rate(self.lines, self.heard[: len(self.lines)]), 3)
            if self.heard else 1.0,
            "agent_replies": self.agent,
            "voice_to_voice_ms": v2v,
            "disposition": self.outcome.disposition if self.outcome else None,
            "summary": self.outcome.summary if self.outcome else None,
            "fields": dict(self.outcome.fields) if self.outcome else {},
        }


async def render_script(lines: list[str]) -> list[Utterance]:
    """The caller's lines in a steady Piper voice (espeak-ng when Piper is missing), 8 kHz
    mu-law: the same audio every run, so a demo's recognition is reproducible."""
    from console.providers.base import ProviderError, TextToSpeech
    from console.providers.local.tts import PiperTTS, best_local_tts

    voice: TextToSpeech
    try:
        voice = PiperTTS(steady=True)
    except ProviderError:
        voice = best_local_tts()
    utterances = []
    for line in lines:
        audio = b"".join([chunk async for chunk in voice.synthesize(line)])
        utterances.append(Utterance(mulaw=audio, label=line))
    return utterances


async def run_demo(
    runtime: Runtime,
    *,
    calls: int = 1,
    profile: str | None = None,
    fast: bool = False,
    printer: Callable[[ev.CallEvent], None] | None = None,
) -> dict[str, Any]:
    """Place `calls` simulated calls at the runtime's server (already started); wait for all."""
    name = profile or runtime.settings.profile.default
    lines = SCRIPTS.get(name, SCRIPTS["scheduling"])
    utterances = await render_script(lines)
    unsubscribe = runtime.bus.subscribe(printer) if printer else None
    started = time.monotonic()
    try:
        results = await asyncio.gather(
            *(_one_call(runtime, name, lines, utterances, fast) for _ in range(calls))
        )
    finally:
        if unsubscribe:
            unsubscribe()
    await runtime.store.flush()
    return {"profile": name, "calls": results, "seconds": round(time.monotonic() - started, 1)}


async def _one_call(runtime: Runtime, profile: str, lines: list[str],
                    utterances: list[Utterance], fast: bool) -> dict[str, Any]:
    # The stream parameters our own TwiML sends (caller, called), plus the profile to speak to.
    numbers = {"caller": "+15550001111", "called": "+15550002222"}
    options = CallerOptions(url=runtime.server.media_url, fast=fast, utterances=utterances,
                            from_number=numbers["caller"], to_number=numbers["called"],
                            custom_parameters={**numbers, "profile": profile})
    record = DemoCall(options.call_sid, lines)
    unsubscribe = runtime.bus.subscribe(record.observe)
    try:
        caller_summary = await SimulatedCaller(options).run()
        await asyncio.wait_for(record.ended.wait(), timeout=10)
        await asyncio.wait_for(record.summarized.wait(), timeout=10)  # written after the end
    finally:
        unsubscribe()
    return {**record.summary(), "caller": _caller_brief(caller_summary)}


def _caller_brief(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("frames_sent", "frames_received", "marks_received", "clears_received", "duration_ms")
    brief = {key: summary.get(key) for key in keys}
    # As the caller hears it: their speech end -> the agent's first frame arriving.
    brief["reply_latency_ms"] = [u["reply_latency_ms"] for u in summary.get("utterances", [])]
    return brief


def print_event(event: ev.CallEvent) -> None:
    """Headless transcript: what each side said and how long the agent took."""
    sid = event.call_sid[-6:]
    if isinstance(event, ev.TurnCompleted):
        cut = " [interrupted]" if event.interrupted else ""
        print(f"[{sid}] {event.role:>8}: {event.text}{cut}", flush=True)
    elif isinstance(event, ev.TurnMeasured) and "voice_to_voice" in event.stages:
        stages = event.stages
        print(f"[{sid}]  latency: voice-to-voice {stages['voice_to_voice']:.0f} ms "
              f"(recognition {stages.get('speech_end->stt_final', 0):.0f}, "
              f"reply {stages.get('llm_ttft', 0):.0f}, voice {stages.get('tts_ttfb', 0):.0f})",
              flush=True)
    elif isinstance(event, ev.CallSummarized):
        print(f"[{sid}] summary ({event.source}): {event.disposition}: {event.summary}",
              flush=True)
    elif isinstance(event, ev.ProviderDegraded | ev.EmergencyDetected | ev.AlertRaised):
        print(f"[{sid}] !! {event.kind}: {event.payload()}", flush=True)


class DemoBackend:
    """The console's backend for `make demo`: the real runtime, plus simulated callers placed
    once it listens. The runtime, not a widget, owns the demo task."""

    def __init__(self, runtime: Runtime, *, calls: int = 1, fast: bool = False) -> None:
        self.runtime = runtime
        self.bus, self.control = runtime.bus, runtime.control
        self.history, self.listen_in = runtime.history, runtime.listen_in
        self.briefs = runtime.briefs  # issue 15: the catch-up brief of a live call
        self._calls, self._fast = calls, fast
        self._task: asyncio.Task[Any] | None = None

    async def start(self, progress: Callable[[str, str], None]) -> None:
        await self.runtime.start(progress)
        progress("demo", f"placing {self._calls} simulated call(s)")
        self._task = asyncio.create_task(self._place_calls(), name="demo-calls")

    async def _place_calls(self) -> None:
        try:
            await run_demo(self.runtime, calls=self._calls, fast=self._fast)
        except Exception:
            log.exception("the demo call failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=5)
        await self.runtime.stop()

    def status(self) -> RuntimeStatus:
        return self.runtime.status()
