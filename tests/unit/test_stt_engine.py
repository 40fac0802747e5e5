"""STT_ENGINE picks the Deepgram recognizer; the Flux thresholds are checked at start-up against
Deepgram's ranges; the call core sees `detects_turns` through the fallback wrapper."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from console.commands.doctor import diagnose
from console.config import load_settings
from console.providers.base import ProviderError, TranscriptEvent
from console.providers.deepgram.flux import DeepgramFluxSTT
from console.providers.deepgram.stt import DeepgramSTT
from console.providers.fallback import FallbackSTT
from console.providers.registry import ProviderRegistry


def settings(**values: object):
    return load_settings(_env_file=None, deepgram_api_key="key", **values)


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"stt_flux_eot_threshold": 0.4}, "FLUX_EOT_THRESHOLD must be between 0.5 and 1.0"),
        ({"stt_flux_eager_eot_threshold": 0.95}, "FLUX_EAGER_EOT_THRESHOLD must be between 0.3"),
        ({"stt_flux_eot_timeout_ms": 100}, "FLUX_EOT_TIMEOUT_MS must be between 500 and 60000"),
        ({"stt_flux_eager_eot_threshold": 0.8},
         "must not exceed VOICECONSOLE_STT_FLUX_EOT_THRESHOLD (0.7)"),
        ({"stt_engine": "whisper"}, "'nova' or 'flux'"),
    ],
)
def test_values_deepgram_would_refuse_are_refused_at_start_up_with_a_clear_reason(
    values, says
) -> None:
    with pytest.raises(ValidationError) as raised:
        settings(**values)
    assert says in str(raised.value)


def test_the_defaults_are_nova_and_flux_with_eager_end_of_turn_on() -> None:
    s = settings()
    assert s.stt.engine == "nova"
    assert (s.stt.flux_eot_threshold, s.stt.flux_eager_eot_threshold,
            s.stt.flux_eot_timeout_ms) == (
        0.7,
        0.5,
        5000,
    )
    fussy = settings(stt_flux_eot_threshold=1.0, stt_flux_eager_eot_threshold=0.9)
    assert fussy.stt.flux_eot_threshold == 1


async def test_stt_engine_flux_builds_flux_with_the_thresholds_and_doctor_says_so() -> None:
    registry = ProviderRegistry(
        settings(stt_engine="flux", stt_flux_eot_threshold=0.8, stt_flux_eager_eot_threshold=0.4)
    )
    try:
        stt = registry.stt()
        flux = stt.primary if isinstance(stt, FallbackSTT) else stt
        assert isinstance(flux, DeepgramFluxSTT)
        assert (flux.eot_threshold, flux.eager_eot_threshold, flux.eot_timeout_ms) == (
            0.8,
            0.4,
            5000,
        )
        assert stt.detects_turns is True
    finally:
        await registry.aclose()
    engine = diagnose(registry.settings)["tiers"]["stt"]["engine"]
    assert engine.startswith("Deepgram flux-general-en") and "eager 0.4" in engine


async def test_stt_engine_nova_builds_nova_which_leaves_turns_to_the_call() -> None:
    registry = ProviderRegistry(settings())
    try:
        stt = registry.stt()
        nova = stt.primary if isinstance(stt, FallbackSTT) else stt
        assert isinstance(nova, DeepgramSTT)
        assert not getattr(stt, "detects_turns", False)
    finally:
        await registry.aclose()
    assert diagnose(registry.settings)["tiers"]["stt"]["engine"] == "Deepgram nova-2"


class RefusedFlux:
    tier, detects_turns = "cloud", True

    async def stream(self, audio: AsyncIterator[bytes]) -> AsyncIterator[TranscriptEvent]:
        raise ProviderError("Deepgram refused the API key")
        yield  # pragma: no cover - makes this an async generator


class Local:
    tier = "local"

    async def stream(self, audio: AsyncIterator[bytes]) -> AsyncIterator[TranscriptEvent]:
        yield TranscriptEvent("final", "heard locally", True)


async def test_the_fallback_forwards_detects_turns_of_whichever_recognizer_listens() -> None:
    stt = FallbackSTT(RefusedFlux(), Local())
    assert stt.detects_turns is True  # before the stream: the cloud recognizer's
    events = [event async for event in stt.stream(_nothing())]
    assert [e.text for e in events] == ["heard locally"]
    assert stt.detects_turns is False  # the local one took over: the call ends turns again


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield  # pragma: no cover


def test_the_command_line_names_the_bad_setting_instead_of_a_traceback(
    monkeypatch, capsys, tmp_path
):
    from console.cli import main

    monkeypatch.setenv("VOICECONSOLE_STT_FLUX_EOT_THRESHOLD", "1.5")
    monkeypatch.chdir(tmp_path)  # no .env here
    assert main(["doctor"]) == 2
    assert "FLUX_EOT_THRESHOLD must be between 0.5 and 1.0" in capsys.readouterr().err
