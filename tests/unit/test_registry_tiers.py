"""The tiers the console reports at start-up and in `doctor` warn of a cloud recognizer with
nothing behind it: a Deepgram failure would leave its calls deaf."""

from __future__ import annotations

import pytest

from console.config import load_settings
from console.providers.base import ProviderError
from console.providers.local import stt as local_stt
from console.providers.registry import ProviderRegistry


def cloud_registry() -> ProviderRegistry:
    return ProviderRegistry(load_settings(_env_file=None, deepgram_api_key="key"))


def test_a_cloud_recognizer_without_a_local_fallback_says_calls_would_go_deaf(monkeypatch):
    def missing() -> None:
        raise ProviderError("Whisper weights are missing")

    monkeypatch.setattr(local_stt, "whisper_model_dir", missing)
    why = cloud_registry().tiers()["stt"].why
    assert "no local fallback (Whisper weights are missing)" in why and "deaf" in why


def test_a_cloud_recognizer_with_the_local_one_installed_says_nothing_of_deafness():
    try:
        local_stt.whisper_model_dir()
    except ProviderError as error:
        pytest.skip(f"the local recognizer is not installed here: {error}")
    assert "deaf" not in cloud_registry().tiers()["stt"].why


async def test_the_summary_writers_client_is_built_at_start_up_not_when_the_first_call_ends(
        monkeypatch):
    """Building the Groq client is 40-60 ms of the loop every call's audio shares: the first
    call to end, with others still talking, paid it."""
    from console.providers import groq_summary

    built: list[object] = []
    real = groq_summary.AsyncGroq

    def counting(*args, **kwargs):
        built.append(object())
        return real(*args, **kwargs)

    monkeypatch.setattr(groq_summary, "AsyncGroq", counting)
    registry = ProviderRegistry(load_settings(_env_file=None, deepgram_api_key="key",
                                              groq_api_key="key"))
    await registry.warm_up()
    assert len(built) == 1
    writer = registry.summary_model()
    assert writer is not None and writer is registry.summary_model()
    await writer.prepare()  # the client is built once: a second start-up builds nothing
    assert len(built) == 1
    await writer.aclose()
    await registry.aclose()


def test_the_deepgram_modules_are_loaded_at_start_up_not_at_the_first_calls_start():
    """~70 ms of imports (the recognizer's, the voice's, the SDK's listen and speak clients)
    were paid by the first call, on the loop, while the calls before it waited for audio. In a
    process of its own: other tests may have imported them here already."""
    import subprocess
    import sys

    script = (
        "import asyncio, sys\n"
        "from console.config import load_settings\n"
        "from console.providers.registry import ProviderRegistry\n"
        "registry = ProviderRegistry(load_settings(_env_file=None, deepgram_api_key='key'))\n"
        "asyncio.run(registry.warm_up())\n"
        "print(sorted(m for m in ('console.providers.deepgram.stt',"
        " 'console.providers.deepgram.tts', 'deepgram.listen.v1.socket_client',"
        " 'deepgram.speak.v1.socket_client') if m in sys.modules))\n")
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, timeout=60).stdout.strip()
    assert shown == str(sorted(["console.providers.deepgram.stt",
                                "console.providers.deepgram.tts",
                                "deepgram.listen.v1.socket_client",
                                "deepgram.speak.v1.socket_client"]))


def test_the_local_model_folder_is_found_once_per_process_not_at_each_calls_start(monkeypatch):
    """Every cloud call builds the local recognizer as its fallback; searching the import path
    and the disk for its weights each time stalled the loop up to 60 ms at a call's start."""
    import importlib.util

    if hasattr(local_stt, "_model_dir"):
        local_stt._model_dir.cache_clear()  # as in a fresh process
    searched: list[str] = []
    real = importlib.util.find_spec

    def spying(name: str, *args):
        searched.append(name)
        return real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", spying)
    folders = {local_stt.whisper_model_dir() for _ in range(3)}
    assert len(folders) == 1 and (folders.pop() / "model.bin").is_file()
    assert searched.count(local_stt._WEIGHTS_PACKAGE) == 1
