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
