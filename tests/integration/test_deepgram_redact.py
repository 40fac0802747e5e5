"""On the cloud tier Deepgram is asked to redact what it can itself: the real deepgram-sdk, built by
the registry from a profile's `redact`, against the loopback fake (which honours the options)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from console.config import load_settings
from console.providers.deepgram.flux import DeepgramFluxSTT
from console.providers.fallback import FallbackSTT
from console.providers.registry import ProviderRegistry
from tests.fakes.deepgram_fake import FakeDeepgram, silence, tone

pytestmark = pytest.mark.timeout(20)

SAID = "my card is 4111 1111 1111 1111 and my social is 123-45-6789"
EVERY_KIND = ("card", "ssn", "dob", "dtmf")


async def frames(*parts: bytes) -> AsyncIterator[bytes]:
    audio = b"".join(parts)
    for start in range(0, len(audio), 160):
        yield audio[start : start + 160]


def registry_for(fake: FakeDeepgram, **values: object) -> ProviderRegistry:
    return ProviderRegistry(load_settings(_env_file=None, deepgram_api_key=fake.api_key,
                                          deepgram_base_url=fake.base_url, **values))


def cloud_stt(registry: ProviderRegistry, kinds: tuple[str, ...]):
    stt = registry.stt(redact=kinds)
    return stt.primary if isinstance(stt, FallbackSTT) else stt


@pytest.mark.parametrize(("kinds", "asked", "heard"), [
    (EVERY_KIND, ["pci", "ssn"], "my card is [REDACTED] and my social is [REDACTED]"),
    ((), [], SAID),
])
async def test_nova_is_asked_to_redact_cards_and_ssns_when_the_profile_does(kinds, asked, heard):
    async with FakeDeepgram(script=[SAID]) as fake:
        registry = registry_for(fake)
        try:
            stt = cloud_stt(registry, kinds)
            events = [e async for e in stt.stream(frames(silence(300), tone(1000), silence(1500)))]
        finally:
            await registry.aclose()
    assert fake.listen_redact == [asked]  # redact=pci&redact=ssn on the socket's query
    assert [e.text for e in events if e.kind == "final"] == [heard]


async def test_flux_is_asked_for_no_redaction_it_would_refuse():
    # Flux redacts numbers only (all of them: callback numbers and times too); pci and ssn are
    # refused with a 400, so the store's own redaction is all there is on Flux.
    async with FakeDeepgram() as fake:
        registry = registry_for(fake, stt_engine="flux")
        try:
            stt = cloud_stt(registry, EVERY_KIND)
            assert isinstance(stt, DeepgramFluxSTT)
            assert "redact" not in stt.connect_options()
        finally:
            await registry.aclose()
