"""A whole cloud stack on loopback: fake Deepgram, Groq and Twilio REST speaking the real wire
protocols, the real SDKs pointed at them, our real server, and simulated Twilio callers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from console import events as ev
from console.calls.session import SessionOptions
from console.config import load_settings
from console.runtime import Runtime
from console.simulate.caller import CallerOptions, SimulatedCaller, Utterance
from tests.fakes.deepgram_fake import FakeDeepgram, silence, tone
from tests.fakes.groq_fake import FakeGroq
from tests.fakes.twilio_rest_fake import FakeTwilioRest

PUBLIC_URL = "https://voice.example.test"
EMERGENCY = ("+15550009111", "+15550009222")


def spoken(ms: int = 800, **options: Any) -> Utterance:
    """Caller speech as the fake recognizer hears it: a tone, then a short breath of silence."""
    return Utterance(mulaw=tone(ms) + silence(40), **options)


@dataclass
class CloudStack:
    deepgram: FakeDeepgram
    groq: FakeGroq
    twilio: FakeTwilioRest
    runtime: Runtime

    def caller(self, *utterances: Utterance, **options: Any) -> SimulatedCaller:
        token = self.runtime.settings.twilio.auth_token
        opts = CallerOptions(url=self.runtime.server.media_url,
                             auth_token=token.get_secret_value() if token else None,
                             signed_url=f"wss://{PUBLIC_URL.removeprefix('https://')}/media",
                             account_sid=self.runtime.settings.twilio.account_sid or "",
                             utterances=list(utterances), **options)
        self.twilio.add_call(opts.call_sid)
        return SimulatedCaller(opts)

    def events(self, kind: str) -> list[Any]:
        return [e for e in self.seen if e.kind == kind]


async def start_cloud_stack(tmp_path, *, options: SessionOptions | None = None,
                            script: list[str] | None = None, reply: Any = None,
                            stt_engine: str = "nova", overrides: dict[str, Any] | None = None,
                            **deepgram_options: Any) -> tuple[CloudStack, Any]:
    # Short agent speech (15 ms per character) keeps whole-call tests quick.
    deepgram_options.setdefault("ms_per_char", 15.0)
    deepgram = await FakeDeepgram(script=script or [], **deepgram_options).start()
    groq = await FakeGroq(**({"reply": reply} if reply is not None else {})).start()
    twilio = await FakeTwilioRest().start()
    values: dict[str, Any] = dict(
        _env_file=None, server_port=0, data_db=tmp_path / "calls.db", public_url=PUBLIC_URL,
        deepgram_api_key=deepgram.api_key, deepgram_base_url=deepgram.base_url,
        groq_api_key=groq.api_key,
        groq_base_url=groq.base_url,
        twilio_account_sid=twilio.account_sid, twilio_auth_token=twilio.auth_token,
        twilio_api_base_url=twilio.base_url, twilio_phone_number="+15550000000",
        emergency_fallback_number=EMERGENCY[0], emergency_second_number=EMERGENCY[1],
        stt_engine=stt_engine,
    )
    settings = load_settings(**{**values, **(overrides or {})})
    runtime = Runtime(settings, options=options)
    stack = CloudStack(deepgram, groq, twilio, runtime)
    stack.seen = []
    runtime.bus.subscribe(stack.seen.append)
    await runtime.start()
    return stack, (runtime, deepgram, groq, twilio)


async def stop_cloud_stack(parts) -> None:
    runtime, deepgram, groq, twilio = parts
    await runtime.stop()
    for fake in (deepgram, groq, twilio):
        await fake.stop()


@pytest.fixture
async def cloud(tmp_path):
    stack, parts = await start_cloud_stack(tmp_path)
    yield stack
    await stop_cloud_stack(parts)


class Watch:
    """Every event the bus publishes, and a way to wait for one without sleeping."""

    def __init__(self, bus: ev.EventBus) -> None:
        self.events: list[ev.CallEvent] = []
        self._changed = asyncio.Event()
        bus.subscribe(self._seen)

    def _seen(self, event: ev.CallEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, kind: str | type[ev.CallEvent], **fields: Any) -> list[Any]:
        """The events of `kind` (its name, or the event type) whose fields match."""
        name = kind if isinstance(kind, str) else kind.__name__
        return [e for e in self.events
                if e.kind == name and all(getattr(e, k) == v for k, v in fields.items())]

    async def until(self, predicate: Callable[[], object], within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()
