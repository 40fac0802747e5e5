"""The lifecycle of one voiceconsole process: store, providers, media server, (tunnel, webhook).

`Runtime` owns every long-lived piece. The TUI and `serve` both run it; neither owns a call.
Start-up is a sequence of named steps reported to a progress callback; shutdown is the reverse,
in the order DESIGN.md gives (stop accepting, end calls, flush storage, restore webhook).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from console import profiles
from console.calls.live import LiveCalls
from console.calls.ports import MemoryGreetings
from console.calls.session import CallDeps, CallSession, SessionOptions
from console.config import Settings
from console.events import EventBus
from console.providers.registry import ProviderRegistry
from console.storage.writer import StoreWriter
from console.streams import MediaSender, StreamStart
from console.telephony.server import MediaServer

log = logging.getLogger(__name__)

Progress = Callable[[str, str], None]


def _log_progress(step: str, status: str) -> None:
    log.info("%s: %s", step, status)


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        registry: ProviderRegistry | None = None,
        options: SessionOptions | None = None,
    ) -> None:
        self.settings = settings
        self.bus = EventBus()
        self.registry = registry or ProviderRegistry(settings)
        self.options = _with_emergency_numbers(options or SessionOptions(), settings)
        self.store = StoreWriter(settings.voiceconsole_db)
        self.control = LiveCalls(self.bus)
        self.greetings = MemoryGreetings()
        self.server = MediaServer(settings, self._new_call, self.bus)
        self.actions: Any = None
        self._unsubscribe_store: Callable[[], None] | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self, progress: Progress = _log_progress) -> None:
        self.settings.warn_about_risky_choices()
        progress("storage", f"opening {self.settings.voiceconsole_db}")
        self.settings.voiceconsole_db.parent.mkdir(parents=True, exist_ok=True)
        self.store.start()
        self._unsubscribe_store = self.bus.subscribe(self.store)
        for name, tier in self.registry.tiers().items():
            progress(f"tier {name}", f"{tier.label()}: {tier.why}")
        progress("models", "warming up")
        await self.registry.warm_up()
        await self._prepare_greetings()
        self.actions = self._call_actions()
        port = await self.server.start()
        progress("server", f"listening on {self.server.url} (media: {self.server.media_url})")
        log.debug("bound port %d", port)

    async def stop(self) -> None:
        await self.server.stop("server-shutdown")
        await self.store.close()
        if self._unsubscribe_store:
            self._unsubscribe_store()
        if self.actions is not None and hasattr(self.actions, "aclose"):
            await self.actions.aclose()
        await self.registry.aclose()

    # --- calls ---------------------------------------------------------------------------------
    async def _new_call(self, start: StreamStart, sender: MediaSender) -> CallSession:
        # Read per call (a small file, off the loop) so an edited profile applies to the next call.
        profile = await asyncio.to_thread(profiles.load_profile, self._profile_name(start))
        relay = ObserverRelay()
        deps = CallDeps(
            stt=self.registry.stt(relay),
            llm=self.registry.llm(profile),
            tts=self.registry.tts(profile, relay),
            profile=profile,
            bus=self.bus,
            actions=self.actions,
            greetings=self.greetings,
            options=self.options,
        )
        session = CallSession(start, sender, deps)
        relay.target = session
        self.control.add(session)
        await session.begin()
        return session

    def _profile_name(self, start: StreamStart) -> str:
        """A `profile` stream parameter wins; else the number's profile; else the default."""
        params = start.custom_parameters
        by_number = self.settings.profile_numbers.get(params.get("called", ""))
        return params.get("profile") or by_number or self.settings.profile

    async def _prepare_greetings(self) -> None:
        """Synthesize each profile's greeting once, so a caller hears it the moment the stream
        starts instead of after a TTS round trip."""
        for name in profiles.list_profiles():
            profile = profiles.load_profile(name)
            try:
                tts = self.registry.tts(profile)
                audio = b"".join([chunk async for chunk in tts.synthesize(profile.greeting)])
                self.greetings.remember(profile.name, profile.greeting, audio)
            except Exception as error:  # noqa: BLE001 - a greeting can still be made per call
                log.warning("could not prepare the %s greeting: %s", name, error)

    def _call_actions(self) -> Any:
        if not (self.settings.twilio_account_sid and self.settings.twilio_auth_token):
            return None
        from console.telephony.actions import TwilioCallActions

        return TwilioCallActions(self.settings)

    def status(self) -> dict[str, Any]:
        return {
            "public_url": self.settings.public_url,
            "local_url": self.server.url,
            "tiers": {k: v.label() for k, v in self.registry.tiers().items()},
            "calls": len(self.control.live_calls()),
            "protocol_errors": self.server.stats.protocol_errors,
            "store_failures": self.store.failures,
        }


def _with_emergency_numbers(options: SessionOptions, settings: Settings) -> SessionOptions:
    if options.emergency_numbers:
        return options
    numbers = (settings.emergency_fallback_number, settings.emergency_second_number)
    return dataclasses.replace(options, emergency_numbers=tuple(n for n in numbers if n))


class ObserverRelay:
    """Providers are built before their session exists; this forwards to it once it does."""

    def __init__(self) -> None:
        self.target: Any = None

    def degraded(self, provider: str, problem: str, fallback: str) -> None:
        if self.target is not None:
            self.target.degraded(provider, problem, fallback)

    def usage(self, **amounts: Any) -> None:
        if self.target is not None:
            self.target.usage(**amounts)


async def run_until_signalled(runtime: Runtime, stop: asyncio.Event) -> None:
    await runtime.start()
    try:
        await stop.wait()
    finally:
        await runtime.stop()
