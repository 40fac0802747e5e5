"""The one place the contract suites import provider classes from (so moving a provider module
touches only these lines), and how each provider is built for them: the cloud ones on the real
SDKs pointed at the loopback fakes, the local ones on the real models.
"""

from __future__ import annotations

from typing import Any

from console.config import Settings, load_settings
from console.profiles import Profile, load_profile
from console.providers.base import ProviderObserver
from console.providers.deepgram.flux import DeepgramFluxSTT
from console.providers.deepgram.stt import DeepgramSTT
from console.providers.deepgram.tts import DeepgramTTS
from console.providers.fallback import FallbackSTT, FallbackTTS
from console.providers.groq_llm import GroqLLM
from console.providers.local import stt as local_stt
from console.providers.local.stt import LocalWhisperSTT
from console.providers.local.tts import EspeakTTS, PiperTTS
from console.providers.registry import ProviderRegistry
from console.providers.scripted import ScriptedResponder

__all__ = [
    "DeepgramFluxSTT",
    "DeepgramSTT",
    "DeepgramTTS",
    "EspeakTTS",
    "FallbackSTT",
    "FallbackTTS",
    "GroqLLM",
    "LocalWhisperSTT",
    "PiperTTS",
    "ScriptedResponder",
    "local_stt",
    "profile",
    "registry",
]

# A dead server: nothing serves port 9 (discard) on loopback, so connecting is refused at once.
DEAD_URL = "http://127.0.0.1:9"

# Fail fast instead of at the production pace: one reconnect 10 ms later, then ProviderError.
QUICK_GIVE_UP: dict[str, Any] = {"reconnect_attempts": 1, "backoff_s": 0.01}


def nova(key: str, url: str, observer: ProviderObserver | None = None) -> DeepgramSTT:
    return DeepgramSTT(key, url, observer=observer, **QUICK_GIVE_UP)


def flux(key: str, url: str, observer: ProviderObserver | None = None) -> DeepgramFluxSTT:
    return DeepgramFluxSTT(key, url, observer=observer, **QUICK_GIVE_UP)


def aura(key: str, url: str, observer: ProviderObserver | None = None) -> DeepgramTTS:
    return DeepgramTTS(key, url, observer=observer)


def groq(key: str, url: str, *, fallback_model: str | None = None) -> GroqLLM:
    # timeout 2 s and no SDK retries, as the registry builds it for calls.
    return GroqLLM(key, url, fallback_model=fallback_model, timeout_s=2.0, max_retries=0)


def profile() -> Profile:
    return load_profile("scheduling")


def settings(*, cloud: bool) -> Settings:
    """Settings with both cloud keys, or with neither (whatever the environment holds), and
    Nova as the cloud recognizer."""
    key = "contract-key" if cloud else None
    return load_settings(_env_file=None, deepgram_api_key=key, groq_api_key=key,
                         stt_engine="nova")


def registry(*, cloud: bool) -> ProviderRegistry:
    return ProviderRegistry(settings(cloud=cloud))
